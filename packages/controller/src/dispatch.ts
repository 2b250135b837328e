/**
 * The dispatcher: the work behind each queue job. A policy firing fans out one backup job per
 * matching VM on the queue of the host that runs it now; a backup job is core's `runBackup` over
 * the host's agent (re-routed when the VM is found on another host); prune and GC go through an
 * agent and the lineage records what they removed.
 */
import { type ObservedDomain, hasErrorCode, runBackup } from '@virtvault/core';
import type { FleetDomain, FleetStore, PgLineageStore, StoredPolicy } from '@virtvault/lineage';
import type { AgentApi } from '@virtvault/proto';

import type { AgentPool } from './agents.js';
import { ControllerError, codeOf, messageOf } from './errors.js';
import { ulid } from './ids.js';
import type { Inventory } from './inventory.js';
import { gcJobId, pruneJobId } from './queue/job-ids.js';
import type { JobQueues } from './queue/job-queues.js';
import type {
  BackupJobData,
  BackupOutcome,
  JobContext,
  JobHandlers,
  MaintenanceJobData,
} from './queue/types.js';
import { finalOrNot, prunedSnapshots } from './job-outcomes.js';
import { TaggedLineage, remotePorts } from './remote-ports.js';

/** Timings of the dispatcher, ms. */
export interface DispatchTimings {
  /** Deadline of unary agent calls. */
  callTimeoutMs: number;
  /** A running run without heartbeat this long is taken over. */
  staleRunAfterMs: number;
  /** GC delay after a policy fired. */
  gcAfterMs: number;
}

/** What the dispatcher uses. */
export interface DispatcherDeps {
  /** Fleet tables. */
  fleet: FleetStore;
  /** The lineage. */
  lineage: PgLineageStore;
  /** Agents. */
  agents: AgentPool;
  /** Inventory (locating moved VMs). */
  inventory: Inventory;
  /** The queues (set after construction: they call back into the dispatcher). */
  queues: () => Pick<
    JobQueues,
    'enqueueBackup' | 'rerouteBackup' | 'enqueueMaintenance' | 'removeSchedule'
  >;
  /** Timings. */
  timings: DispatchTimings;
  /** Time. */
  now: () => number;
  /** Log. */
  log: (line: string) => void;
}

/** A backup job enqueued. */
export interface EnqueuedBackup {
  /** Job id. */
  jobId: string;
  /** Domain. */
  domain: { uuid: string; name: string };
  /** Host queue. */
  host: string;
}

/** Job data of one domain under one policy. */
export function backupData(
  p: StoredPolicy,
  d: { uuid: string; name: string },
  fireTime: number,
  trigger: 'schedule' | 'manual',
): BackupJobData {
  return {
    domainUuid: d.uuid,
    domainName: d.name,
    policy: p.name,
    repository: p.repository,
    level: p.level,
    retention: p.retention,
    timeZone: p.timeZone,
    fireTime,
    trigger,
  };
}

/** The controller's job handlers. */
export class Dispatcher implements JobHandlers {
  /** @param d dependencies */
  constructor(private readonly d: DispatcherDeps) {}

  /** {@inheritDoc JobHandlers.plan} */
  async plan(policyName: string, fireTime: number): Promise<void> {
    const p = await this.d.fleet.getPolicy(policyName);
    if (p === null || !p.enabled) {
      this.d.log(`policy ${policyName} fired but is gone or disabled`);
      if (p === null) {
        // left by a reconcile that read the policy just before another replica deleted it
        await this.d.queues().removeSchedule(policyName);
      }
      return;
    }
    const jobs = await this.fanOut(p, fireTime, 'schedule');
    this.d.log(
      `policy ${p.name} fired at ${new Date(fireTime).toISOString()}: ${jobs.length} jobs`,
    );
    if (p.retention !== null) {
      const gc: MaintenanceJobData = {
        kind: 'gc',
        repository: p.repository,
        policy: p.name,
        domainUuid: null,
        retention: null,
        timeZone: p.timeZone,
      };
      const id = gcJobId(p.repository, fireTime);
      await this.d.queues().enqueueMaintenance(null, gc, id, this.d.timings.gcAfterMs);
    }
  }

  /** Enqueues one backup per VM the policy selects, on its current host's queue. */
  async fanOut(
    p: StoredPolicy,
    fireTime: number,
    trigger: 'schedule' | 'manual',
    only?: FleetDomain[],
  ): Promise<EnqueuedBackup[]> {
    const hosts = new Map((await this.d.fleet.listHosts()).map((h) => [h.name, h]));
    // a VM gone from every host (deleted) is not backed up: each of its jobs searched every host
    // and failed for good; one named on its own (`only`) is tried all the same
    const domains =
      only ?? (await this.d.fleet.selectDomains(p.selector)).filter((d) => d.goneAt === null);
    const out: EnqueuedBackup[] = [];
    for (const dom of domains) {
      const host = dom.currentHost === null ? undefined : hosts.get(dom.currentHost);
      if (host === undefined || !host.enabled) {
        this.d.log(`policy ${p.name}: ${dom.name} has no enabled host; not enqueued`);
        continue;
      }
      const data = backupData(p, dom, fireTime, trigger);
      const jobId = await this.d.queues().enqueueBackup(host.name, data);
      out.push({ jobId, domain: { uuid: dom.uuid, name: dom.name }, host: host.name });
    }
    return out;
  }

  private async agentOf(host: string): Promise<AgentApi> {
    const h = await this.d.fleet.getHost(host);
    if (h === null) {
      throw new ControllerError('HOST_UNKNOWN', `host ${host} is not in the fleet`, {
        retryable: false,
      });
    }
    return this.d.agents.get(h);
  }

  /** {@inheritDoc JobHandlers.backup} */
  async backup(host: string, data: BackupJobData, ctx: JobContext): Promise<BackupOutcome> {
    const agent = await this.agentOf(host);
    let observed: ObservedDomain;
    try {
      const call = { signal: ctx.signal, deadlineMs: this.d.timings.callTimeoutMs };
      observed = await agent.observe(data.domainUuid, call);
    } catch (e) {
      return this.notObserved(host, data, ctx, e);
    }
    if (observed.domain.state === 'shut-off') {
      // a definition a migration left behind, its image readable (storage not shared): backing
      // it up would record a stale disk, and move the VM back here in the lineage
      const there = await this.runningElsewhere(data.domainUuid, host);
      if (there !== null) {
        return this.handOver(host, there, data);
      }
    }
    if (observed.host !== host) {
      // the run would be recorded on a host of that name, not in the fleet (no address), and the
      // VM moved there: its next jobs went to a host nobody can reach
      const msg =
        `the agent of host ${host} calls itself ${observed.host}: ` +
        `set hostName: ${host} in its configuration`;
      throw new ControllerError('HOST_NAME_MISMATCH', msg, { retryable: false });
    }
    return this.run(host, agent, observed, data, ctx);
  }

  private async run(
    host: string,
    agent: AgentApi,
    observed: ObservedDomain,
    data: BackupJobData,
    ctx: JobContext,
  ): Promise<BackupOutcome> {
    const t = this.d.timings;
    const tag = {
      policy: data.policy,
      trigger: ctx.attempt > 1 ? ('retry' as const) : data.trigger,
      jobId: ctx.id,
      attempt: ctx.attempt,
    };
    const lineage = new TaggedLineage(this.d.lineage, this.d.fleet, tag);
    const deps = remotePorts({
      agent,
      lineage,
      signal: ctx.signal,
      callTimeoutMs: t.callTimeoutMs,
      streamSilenceMs: t.staleRunAfterMs,
      prefetched: observed,
      onProgress: (p) => void ctx.progress(p).catch(() => undefined),
      clock: { now: this.d.now },
      ids: { next: () => ulid(this.d.now()) },
    });
    const request = {
      domain: data.domainUuid,
      repository: data.repository,
      policy: data.level,
      staleRunAfterMs: t.staleRunAfterMs,
      ...(data.level.quiesce === true ? { quiesce: true } : {}),
    };
    // one line per start and end: operators (and tests) see which replica ran which job
    this.d.log(
      `backup of ${data.domainName} on ${host} started (job ${ctx.id}, attempt ${ctx.attempt})`,
    );
    const result = await runBackup(deps, request).catch((e: unknown) => {
      throw finalOrNot(e);
    });
    this.d.log(
      `backup of ${data.domainName} on ${host} done: ${result.manifest.level} ${result.manifest.id}`,
    );
    if (data.retention !== null) {
      await this.enqueuePrune(host, data);
    }
    return { status: 'done', runId: result.runId, snapshotId: result.manifest.id };
  }

  private async enqueuePrune(host: string, data: BackupJobData): Promise<void> {
    const prune: MaintenanceJobData = {
      kind: 'prune',
      repository: data.repository,
      policy: data.policy,
      domainUuid: data.domainUuid,
      retention: data.retention,
      timeZone: data.timeZone,
    };
    const id = pruneJobId(data);
    await this.d.queues().enqueueMaintenance(host, prune, id);
  }

  /**
   * The VM could not be observed on `host`: found elsewhere, the job goes there without an
   * attempt spent. Not defined here (`DOMAIN_NOT_FOUND`), or its image held by another process
   * (`DISK_IN_USE`: the definition a live migration left, the QEMU that runs it elsewhere holding
   * the image), it is looked for on every host; an agent that does not answer hands it to the
   * host the inventory last saw it running on (a dead host whose VMs HA restarted elsewhere).
   */
  private async notObserved(
    host: string,
    data: BackupJobData,
    ctx: JobContext,
    e: unknown,
  ): Promise<BackupOutcome> {
    if (hasErrorCode(e, 'DOMAIN_NOT_FOUND')) {
      return this.reroute(host, data);
    }
    if (hasErrorCode(e, 'DISK_IN_USE')) {
      const { host: to } = await this.d.inventory.locate(data.domainUuid, host);
      if (to !== null) {
        return this.handOver(host, to, data);
      }
    } else {
      const there = await this.runningElsewhere(data.domainUuid, host);
      if (there !== null) {
        return this.handOver(host, there, data);
      }
    }
    await this.recordUnreachable(host, data, ctx, e);
    throw e;
  }

  /** The enabled host other than `host` the inventory last saw the VM running on, or null. */
  private async runningElsewhere(domainUuid: string, host: string): Promise<string | null> {
    const d = await this.d.fleet.getDomain(domainUuid);
    const at = d?.currentHost ?? null;
    if (d === null || at === null || at === host || d.state !== 'running' || d.goneAt !== null) {
      return null;
    }
    const h = await this.d.fleet.getHost(at);
    return h !== null && h.enabled && h.address !== null ? at : null;
  }

  /** Hands the job to `to`'s queue. */
  private async handOver(host: string, to: string, data: BackupJobData): Promise<BackupOutcome> {
    await this.d.queues().rerouteBackup(to, data);
    this.d.log(`backup of ${data.domainName} re-routed from ${host} to ${to}`);
    return { status: 'rerouted', to };
  }

  /** The VM is not on `host`: find it, record the move, hand the job to its host's queue. */
  private async reroute(host: string, data: BackupJobData): Promise<BackupOutcome> {
    const { host: to, unreached } = await this.d.inventory.locate(data.domainUuid, host);
    if (to === null) {
      const msg = `domain ${data.domainName} (${data.domainUuid}) is on no host of the fleet`;
      if (unreached.length > 0) {
        // it may have moved to a host that did not answer (an agent restarting): asked again later
        const why = `${msg} that answered (no answer from ${unreached.join(', ')})`;
        throw new ControllerError('DOMAIN_NOT_FOUND', why, { retryable: true });
      }
      throw new ControllerError('DOMAIN_NOT_FOUND', msg, { retryable: false });
    }
    return this.handOver(host, to, data);
  }

  /** A dead agent is a run error: record a failed run so the history shows it. */
  private async recordUnreachable(
    host: string,
    data: BackupJobData,
    ctx: JobContext,
    e: unknown,
  ): Promise<void> {
    const at = this.d.now();
    const id = ulid(at);
    const tag = {
      policy: data.policy,
      trigger: ctx.attempt > 1 ? ('retry' as const) : data.trigger,
      jobId: ctx.id,
      attempt: ctx.attempt,
    };
    const lineage = new TaggedLineage(this.d.lineage, this.d.fleet, tag);
    const domain = { uuid: data.domainUuid, name: data.domainName };
    try {
      // unreached: the VM may have left a host whose agent died; it is not seen there again
      const run = { id, repository: data.repository, domain, host, startedAt: at, unreached: true };
      await lineage.beginRun(run, this.d.timings.staleRunAfterMs);
      await lineage.failRun(id, {
        errorCode: codeOf(e),
        message: messageOf(e),
        plannedLevel: null,
        reasons: [],
        finishedAt: this.d.now(),
      });
    } catch (err) {
      this.d.log(`cannot record the failed run of ${data.domainName}: ${messageOf(err)}`);
    }
  }

  /** {@inheritDoc JobHandlers.maintenance} */
  async maintenance(
    host: string | null,
    data: MaintenanceJobData,
    ctx: JobContext,
  ): Promise<unknown> {
    const call = {
      signal: ctx.signal,
      deadlineMs: Math.max(this.d.timings.callTimeoutMs, 600_000),
    };
    if (data.kind === 'gc') {
      const agent = await this.agentOf(host ?? (await this.hostWith(data.repository)));
      return agent.collectGarbage(data.repository, false, call);
    }
    if (host === null || data.retention === null || data.domainUuid === null) {
      throw new ControllerError('JOB_INVALID', 'a prune job needs a host, domain and retention', {
        retryable: false,
      });
    }
    const agent = await this.agentOf(host);
    const req = { repository: data.repository, domainUuid: data.domainUuid, ...data.retention };
    const result = await agent.prune({ ...req, timeZone: data.timeZone }, call);
    const lineage = this.d.lineage;
    for (const snapshot of await prunedSnapshots(
      lineage,
      data.repository,
      data.domainUuid,
      result,
    )) {
      await this.d.lineage.setSnapshotStatus(data.repository, snapshot, 'deleted');
    }
    return result;
  }

  /**
   * An up host whose agent has `repository`: agents configure their own repositories, and the
   * first up host, lacking it, failed every GC of it (its space never reclaimed).
   */
  private async hostWith(repository: string): Promise<string> {
    const up = (await this.d.fleet.listHosts()).filter((h) => h.enabled && h.state === 'up');
    for (const h of up) {
      const info = await this.d.agents
        .get(h)
        .hostInfo({ deadlineMs: this.d.timings.callTimeoutMs })
        .catch(() => null);
      if (info?.repositories.includes(repository) === true) {
        return h.name;
      }
    }
    const msg = `no host that is up has repository ${repository} to run its GC`;
    throw new ControllerError('AGENT_UNAVAILABLE', msg);
  }
}
