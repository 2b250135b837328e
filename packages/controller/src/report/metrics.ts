/**
 * `/metrics`: the fleet's figures as Prometheus metric families. Pure: built from the report's
 * rows and the queue depths the caller measured.
 */
import type { MetricFamily, MetricSample } from '@virtvault/core';
import type { HostDay, HostStatus, ReasonCount } from '@virtvault/lineage';
import { isChainBreak, REASONS, isReasonCode } from '@virtvault/core';

import type { VmReport } from './figures.js';

/** Jobs of one host queue by state. */
export interface QueueDepth {
  /** Host. */
  host: string;
  /** Waiting jobs. */
  waiting: number;
  /** Running jobs. */
  active: number;
  /** Delayed jobs (backoff, repository limit). */
  delayed: number;
}

/** Inputs of {@link buildMetrics}. */
export interface MetricsInput {
  /** VMs with RPO status. */
  vms: readonly VmReport[];
  /** Hosts. */
  hosts: readonly HostStatus[];
  /** All-time runs per host and day. */
  hostDays: readonly HostDay[];
  /** All-time reason counts. */
  reasons: readonly ReasonCount[];
  /** Queue depths. */
  queues: readonly QueueDepth[];
}

const family = (
  name: string,
  help: string,
  type: 'gauge' | 'counter',
  samples: MetricSample[],
): MetricFamily => ({ name, help, type, samples });

/** VMs per RPO status, every status present (a status with none is a 0, not a gap). */
function rpoCounts(vms: readonly VmReport[]): Map<string, number> {
  const byRpo = new Map<string, number>([
    ['ok', 0],
    ['at-risk', 0],
    ['violated', 0],
    ['never', 0],
  ]);
  for (const v of vms) {
    byRpo.set(v.rpo, (byRpo.get(v.rpo) ?? 0) + 1);
  }
  return byRpo;
}

/** The days' runs and bytes summed per host. */
function perHost(days: readonly HostDay[]): HostDay[] {
  const per = new Map<string, HostDay>();
  for (const d of days) {
    const e = per.get(d.host) ?? {
      ...d,
      succeeded: 0,
      failed: 0,
      abandoned: 0,
      running: 0,
      bytesRead: 0,
      bytesNew: 0,
    };
    e.succeeded += d.succeeded;
    e.failed += d.failed;
    e.abandoned += d.abandoned;
    e.bytesRead += d.bytesRead;
    e.bytesNew += d.bytesNew;
    per.set(d.host, e);
  }
  return [...per.values()];
}

function vmFamilies(vms: readonly VmReport[]): MetricFamily[] {
  const id = (v: VmReport) => ({ vm: v.name, uuid: v.uuid, host: v.currentHost ?? '' });
  const good = vms.filter((v) => v.lastSnapshot !== null);
  const ran = vms.filter((v) => v.lastRun?.finishedAt != null);
  const byRpo = rpoCounts(vms);
  return [
    family(
      'virtvault_vm_last_success_timestamp_seconds',
      'End of the last good snapshot of each VM, Unix time.',
      'gauge',
      good.map((v) => ({ labels: id(v), value: (v.lastSnapshot?.endedAt ?? 0) / 1000 })),
    ),
    family(
      'virtvault_vm_rpo_violated',
      '1 when the VM has no good snapshot within its RPO.',
      'gauge',
      vms.map((v) => ({ labels: id(v), value: v.rpo === 'violated' || v.rpo === 'never' ? 1 : 0 })),
    ),
    family(
      'virtvault_vm_chain_length',
      'Snapshots in the VM current chain, its full included.',
      'gauge',
      good.map((v) => ({ labels: id(v), value: v.chainLength })),
    ),
    family(
      'virtvault_vm_last_run_duration_seconds',
      'Duration of the VM last finished run.',
      'gauge',
      ran.map((v) => ({
        labels: id(v),
        value: ((v.lastRun?.finishedAt ?? 0) - (v.lastRun?.startedAt ?? 0)) / 1000,
      })),
    ),
    family(
      'virtvault_vms',
      'VMs by RPO status.',
      'gauge',
      [...byRpo].map(([rpo, n]) => ({ labels: { rpo }, value: n })),
    ),
  ];
}

function runFamilies(days: readonly HostDay[]): MetricFamily[] {
  const hosts = perHost(days);
  return [
    family(
      'virtvault_runs_total',
      'Finished backup runs by host and outcome.',
      'counter',
      hosts.flatMap((h) =>
        (['succeeded', 'failed', 'abandoned'] as const).map((status) => ({
          labels: { host: h.host, status },
          value: h[status],
        })),
      ),
    ),
    family(
      'virtvault_run_bytes_read_total',
      'Bytes read from VM disks by backups, per host.',
      'counter',
      hosts.map((h) => ({ labels: { host: h.host }, value: h.bytesRead })),
    ),
    family(
      'virtvault_run_bytes_new_total',
      'New chunk bytes written by backups (before compression), per host.',
      'counter',
      hosts.map((h) => ({ labels: { host: h.host }, value: h.bytesNew })),
    ),
  ];
}

function reasonFamilies(reasons: readonly ReasonCount[]): MetricFamily[] {
  const full = reasons.filter((r) => isReasonCode(r.reason) && REASONS[r.reason].effect === 'full');
  return [
    family(
      'virtvault_chain_breaks_total',
      'Runs whose chain broke and that took a full, by reason.',
      'counter',
      reasons
        .filter((r) => isChainBreak(r.reason))
        .map((r) => ({ labels: { reason: r.reason }, value: r.runs })),
    ),
    family(
      'virtvault_fallbacks_total',
      'Runs that took a full instead of an incremental, by reason.',
      'counter',
      full.map((r) => ({ labels: { reason: r.reason }, value: r.runs })),
    ),
  ];
}

/** Every metric family of `/metrics`. */
export function buildMetrics(i: MetricsInput): MetricFamily[] {
  return [
    ...vmFamilies(i.vms),
    ...runFamilies(i.hostDays),
    ...reasonFamilies(i.reasons),
    family(
      'virtvault_queue_depth',
      'Backup jobs per host queue and state.',
      'gauge',
      i.queues.flatMap((q) =>
        (['waiting', 'active', 'delayed'] as const).map((state) => ({
          labels: { host: q.host, state },
          value: q[state],
        })),
      ),
    ),
    family(
      'virtvault_agent_up',
      '1 when the host agent answered its last poll.',
      'gauge',
      i.hosts.map((h) => ({ labels: { host: h.name }, value: h.state === 'up' ? 1 : 0 })),
    ),
  ];
}
