/**
 * `Reporter`: the report's reads for the API, the dashboard and `/metrics`, over the lineage's
 * `ReportStore` and the queue depths the scheduler measures.
 */
import { formatMetrics, isUnprotected, buildTimeline, type TimelineEntry } from '@virtvault/core';
import type { FinishedRun, HostStatus, ReportStore } from '@virtvault/lineage';

import { type FleetSummary, type VmReport, summarize, vmReports } from './figures.js';
import { type QueueDepth, buildMetrics } from './metrics.js';

/** Filters of the VM list. */
export interface VmFilter {
  /** Only VMs on this host. */
  host?: string;
  /** Only VMs without a good snapshot within their RPO. */
  unprotected?: boolean;
  /** Only VMs with this RPO status. */
  rpo?: string;
  /** Substring of name, UUID, host or tag (case-insensitive). */
  q?: string;
}

/** Options of {@link Reporter}. */
export interface ReporterOptions {
  /** The store. */
  store: ReportStore;
  /** Queue depths per host (empty when the scheduler is not running here). */
  queueDepths: () => Promise<QueueDepth[]>;
  /** RPO for VMs whose policy sets none, ms. */
  defaultRpoMs: number;
  /** Epoch ms. */
  now: () => number;
  /** Names of the enabled policies selecting each VM, by UUID (none when absent). */
  policiesByVm?: () => Promise<ReadonlyMap<string, readonly string[]>>;
}

/** A VM in the report: its figures and the policies that select it. */
export type ReportedVm = VmReport & { policies: string[] };

/** A VM's timeline page data. */
export interface VmTimeline {
  /** The VM. */
  vm: ReportedVm;
  /** Entries, oldest first. */
  entries: TimelineEntry[];
}

function matches(v: ReportedVm, f: VmFilter): boolean {
  if (f.host !== undefined && v.currentHost !== f.host) {
    return false;
  }
  // unprotected: no good snapshot within the RPO, or no policy at all to take one
  if (f.unprotected === true && !isUnprotected(v.rpo) && v.policies.length > 0) {
    return false;
  }
  if (f.rpo !== undefined && f.rpo !== '' && v.rpo !== f.rpo) {
    return false;
  }
  if (f.q !== undefined && f.q !== '') {
    const q = f.q.toLowerCase();
    const hay = [v.name, v.uuid, v.currentHost ?? '', ...v.tags].join(' ').toLowerCase();
    return hay.includes(q);
  }
  return true;
}

/** The report. */
export class Reporter {
  readonly #o: ReporterOptions;

  /** @param options see {@link ReporterOptions} */
  constructor(options: ReporterOptions) {
    this.#o = options;
  }

  /** Hosts with agent state, VMs and running jobs. */
  hosts(): Promise<HostStatus[]> {
    return this.#o.store.hostStatus();
  }

  /** VMs with RPO status, filtered. */
  async vms(filter: VmFilter = {}): Promise<ReportedVm[]> {
    const [rows, byVm] = await Promise.all([
      this.#o.store.vmStatus(),
      this.#o.policiesByVm?.() ?? Promise.resolve(new Map<string, readonly string[]>()),
    ]);
    const all = vmReports(rows, this.#o.now(), this.#o.defaultRpoMs).map((v) => ({
      ...v,
      policies: [...(byVm.get(v.uuid) ?? [])],
    }));
    return all.filter((v) => matches(v, filter));
  }

  /** The fleet summary since `since` (epoch ms). */
  async summary(since: number): Promise<FleetSummary> {
    const s = this.#o.store;
    const [vms, hostDays, repositories, reasons, migrations] = await Promise.all([
      this.vms(),
      s.runsPerHostDay(since),
      s.repositoryStats(),
      s.reasonCounts(since),
      s.migrationsSince(since),
    ]);
    return summarize({ since, vms, hostDays, repositories, reasons, migrations });
  }

  /** A VM's timeline by UUID or name; null when unknown. */
  async timeline(vm: string): Promise<VmTimeline | null> {
    const found = (await this.vms()).find((v) => v.uuid === vm || v.name === vm);
    if (found === undefined) {
      return null;
    }
    const rows = await this.#o.store.timelineRows(found.uuid);
    return { vm: found, entries: buildTimeline(rows.snapshots, rows.failed, rows.migrations) };
  }

  /** Failed and abandoned runs finished since `since`, newest first. */
  async recentFailures(since: number): Promise<FinishedRun[]> {
    const runs = await this.#o.store.finishedRuns(since, this.#o.now() + 1);
    return runs.filter((r) => r.status !== 'succeeded').reverse();
  }

  /** `/metrics` text. */
  async metrics(): Promise<string> {
    const s = this.#o.store;
    const [vms, hosts, hostDays, reasons, queues] = await Promise.all([
      this.vms(),
      s.hostStatus(),
      s.runsPerHostDay(0),
      s.reasonCounts(0),
      this.#o.queueDepths(),
    ]);
    return formatMetrics(buildMetrics({ vms, hosts, hostDays, reasons, queues }));
  }
}
