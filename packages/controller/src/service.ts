/**
 * `FleetService`: the facade the HTTP API calls, in plain types, free of HTTP. Writes go to
 * Postgres first, then to the queues (job schedulers, host limits), so every replica agrees.
 */
import {
  type FleetDomain,
  type FleetHost,
  type FleetRun,
  type FleetStore,
  type RunFilter,
  type RunStatus,
  type StoredPolicy,
  matchesSelector,
} from '@virtvault/lineage';

import type { AgentPool } from './agents.js';
import type { Dispatcher, EnqueuedBackup } from './dispatch.js';
import { ControllerError } from './errors.js';
import type { Inventory } from './inventory.js';
import { readPolicy } from './policy-input.js';
import type { JobQueues } from './queue/job-queues.js';
import { ADDRESS_RE, Fields, NAME_RE } from './validate.js';

/** A VM with the policies that select it. */
export interface VmInfo extends FleetDomain {
  /** Enabled policies whose selector matches. */
  policies: string[];
}

/** Run filter as the API passes it (status unchecked). */
export type RunQueryInput = Omit<RunFilter, 'status'> & { status?: string };

const STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'abandoned'];

/** What the service uses. */
export interface FleetServiceDeps {
  /** Fleet tables. */
  fleet: FleetStore;
  /** Queues. */
  queues: JobQueues;
  /** Fan-out of backups. */
  dispatcher: Dispatcher;
  /** Inventory. */
  inventory: Inventory;
  /** Agents. */
  agents: AgentPool;
  /** Time. */
  now: () => number;
}

/** The fleet as the API sees it. */
export class FleetService {
  /** @param d dependencies */
  constructor(private readonly d: FleetServiceDeps) {}

  /** Hosts with their agent state. */
  listHosts(): Promise<FleetHost[]> {
    return this.d.fleet.listHosts();
  }

  /** Adds or reconfigures a host; its inventory is polled at once (in the background). */
  async addHost(h: {
    name: string;
    address: string;
    maxConcurrentBackups?: number;
  }): Promise<FleetHost> {
    const f = new Fields('HOST_INVALID', '', h);
    const cfg = {
      name: f.at('name').str(NAME_RE, 'a host name'),
      address: f.at('address').str(ADDRESS_RE, 'host:port'),
      maxConcurrent: f.at('maxConcurrentBackups').opt((x) => x.int(1, 64), 2),
      enabled: true,
    };
    await this.d.fleet.upsertHost(cfg, this.d.now());
    await this.d.queues.setHostConcurrency(cfg.name, cfg.maxConcurrent);
    const host = await this.d.fleet.getHost(cfg.name);
    if (host === null) {
      throw new ControllerError('INTERNAL', `host ${cfg.name} vanished after it was added`);
    }
    void this.d.inventory.refreshHost(host);
    return host;
  }

  /** Removes a host; false when unknown. */
  async removeHost(name: string): Promise<boolean> {
    const removed = await this.d.fleet.removeHost(name);
    this.d.inventory.forget(name);
    this.d.agents.drop(name);
    return removed;
  }

  /** VMs with their policies; `unprotected` keeps those no enabled policy selects. */
  async listVms(f: { host?: string; unprotected?: boolean } = {}): Promise<VmInfo[]> {
    const filter = f.host === undefined ? {} : { host: f.host };
    const [domains, policies] = await Promise.all([
      this.d.fleet.listDomains(filter),
      this.d.fleet.listPolicies(),
    ]);
    const enabled = policies.filter((p) => p.enabled);
    const vms = domains.map((d) => ({
      ...d,
      policies: enabled.filter((p) => matchesSelector(p.selector, d)).map((p) => p.name),
    }));
    return f.unprotected === true ? vms.filter((v) => v.policies.length === 0) : vms;
  }

  /** Policies by name. */
  listPolicies(): Promise<StoredPolicy[]> {
    return this.d.fleet.listPolicies();
  }

  /** Creates or replaces a policy (`POLICY_INVALID` naming the field) and its job scheduler. */
  async upsertPolicy(input: unknown): Promise<StoredPolicy> {
    const p = readPolicy(new Fields('POLICY_INVALID', '', input));
    // Scheduling first: a cron BullMQ refuses must not reach the database.
    await this.d.queues.syncSchedule(p);
    await this.d.fleet.upsertPolicy(p, this.d.now());
    const stored = await this.d.fleet.getPolicy(p.name);
    if (stored === null) {
      throw new ControllerError('INTERNAL', `policy ${p.name} vanished after it was stored`);
    }
    return stored;
  }

  /** Deletes a policy and its job scheduler; false when unknown. */
  async deletePolicy(name: string): Promise<boolean> {
    await this.d.queues.removeSchedule(name);
    return this.d.fleet.deletePolicy(name);
  }

  /**
   * Enqueues backups now: every VM of a policy, or one domain (under the given policy, else the
   * first enabled policy selecting it, by name). Returns the jobs.
   */
  async runNow(r: { policy?: string; domain?: string }): Promise<EnqueuedBackup[]> {
    const now = this.d.now();
    if (r.domain === undefined) {
      return this.d.dispatcher.fanOut(await this.policy(r.policy), now, 'manual');
    }
    const dom = await this.d.fleet.getDomain(r.domain);
    if (dom === null) {
      throw new ControllerError('DOMAIN_NOT_FOUND', `no VM ${r.domain} in the inventory`);
    }
    let p: StoredPolicy | undefined;
    if (r.policy !== undefined) {
      p = await this.policy(r.policy);
    } else {
      const all = await this.d.fleet.listPolicies();
      p = all.find((x) => x.enabled && matchesSelector(x.selector, dom));
    }
    if (p === undefined) {
      const msg = `no enabled policy selects ${dom.name}: name one (it gives repository and levels)`;
      throw new ControllerError('POLICY_NOT_FOUND', msg);
    }
    return this.d.dispatcher.fanOut(p, now, 'manual', [dom]);
  }

  private async policy(name: string | undefined): Promise<StoredPolicy> {
    const p = name === undefined ? null : await this.d.fleet.getPolicy(name);
    if (p === null) {
      throw new ControllerError('POLICY_NOT_FOUND', `no policy ${name ?? '(none given)'}`);
    }
    return p;
  }

  /** Runs, newest first. */
  listRuns(filter: RunQueryInput = {}): Promise<FleetRun[]> {
    const { status, ...rest } = filter;
    if (status === undefined) {
      return this.d.fleet.listRuns(rest);
    }
    if (!(STATUSES as readonly string[]).includes(status)) {
      throw new ControllerError('BAD_RUN_FILTER', `status must be one of ${STATUSES.join(', ')}`);
    }
    return this.d.fleet.listRuns({ ...rest, status: status as RunStatus });
  }

  /** One run, or null. */
  getRun(id: string): Promise<FleetRun | null> {
    return this.d.fleet.getRun(id);
  }
}
