/**
 * Builders for chain planner tests: a healthy chain and a healthy observation of it, plus small
 * mutators that apply one breaker each.
 */
import type { BackupLevel } from '../model/manifest.js';
import type { DomainLineage, LineageSnapshot } from '../model/lineage.js';
import type { ObservedBitmap, ObservedDomain } from '../model/observed.js';
import type { BackupPlan } from '../model/plan.js';

export const REPO = 'repo-main';
export const UUID = '6f1c2b9e-0000-4000-8000-000000000001';
export const HOST_A = 'host-a';
export const HOST_B = 'host-b';
export const DAY = 86_400_000;
/** 2025-01-15T12:00:00Z, a Wednesday. */
export const T0 = Date.UTC(2025, 0, 15, 12);
export const GIB = 1024 ** 3;

/** Checkpoint name of the n-th snapshot (1-based); ULID-like so names sort by time. */
export const cp = (n: number): string => `vv-01JCHAIN${String(n).padStart(16, '0')}`;
/** Snapshot id of the n-th snapshot. */
export const snap = (n: number): string => `s${n}`;

/** A chain of snapshots one day apart on host-a, each with a live checkpoint on vda. */
export function chain(levels: BackupLevel[]): DomainLineage {
  const snapshots: LineageSnapshot[] = levels.map((level, i) => ({
    id: snap(i + 1),
    level,
    host: HOST_A,
    checkpoint: cp(i + 1),
    parent: level === 'full' ? null : snap(i),
    status: 'committed',
    verify: 'unverified',
    disks: [{ target: 'vda', source: '/images/vm1.qcow2', format: 'qcow2', virtualSize: 10 * GIB }],
    startedAt: T0 - (levels.length - i) * DAY,
    endedAt: T0 - (levels.length - i) * DAY + 60_000,
  }));
  return {
    repository: REPO,
    domain: { uuid: UUID, name: 'vm1', currentHost: HOST_A },
    snapshots,
    checkpoints: snapshots.map((s) => ({
      name: s.checkpoint ?? '',
      repository: REPO,
      host: HOST_A,
      createdAt: s.startedAt,
      xml: `<domaincheckpoint><name>${s.checkpoint ?? ''}</name></domaincheckpoint>`,
      disks: [{ target: 'vda', bitmap: s.checkpoint ?? '' }],
      state: 'live' as const,
      stateReason: null,
    })),
  };
}

/** A healthy bitmap. */
export function bitmap(name: string, patch: Partial<ObservedBitmap> = {}): ObservedBitmap {
  return { name, recording: true, persistent: true, inconsistent: false, busy: false, ...patch };
}

/** What a healthy host shows for `lineage`: running on host-a, metadata and bitmaps of every live checkpoint. */
export function healthy(lineage: DomainLineage): ObservedDomain {
  const live = lineage.checkpoints.filter((c) => c.state === 'live').map((c) => c.name);
  return {
    host: HOST_A,
    domain: { uuid: UUID, name: 'vm1', state: 'running', transient: false },
    disks: [
      {
        target: 'vda',
        source: '/images/vm1.qcow2',
        format: 'qcow2',
        virtualSize: 10 * GIB,
        nodeName: 'libvirt-1-format',
        bitmapsSupported: true,
        bitmaps: live.map((n) => bitmap(n)),
      },
    ],
    checkpoints: live.map((name, i) => ({ name, parent: i > 0 ? (live[i - 1] ?? null) : null })),
  };
}

/** Applies `fn` to a deep copy. */
export function edit<T>(value: T, fn: (v: T) => void): T {
  const copy = structuredClone(value);
  fn(copy);
  return copy;
}

/** Removes libvirt's metadata of the named checkpoints (all when none named). */
export function dropMetadata(o: ObservedDomain, ...names: string[]): void {
  o.checkpoints = o.checkpoints.filter((c) => names.length > 0 && !names.includes(c.name));
}

/** Removes a bitmap from every disk. */
export function dropBitmap(o: ObservedDomain, name: string): void {
  for (const d of o.disks) {
    d.bitmaps = d.bitmaps.filter((b) => b.name !== name);
  }
}

/** Changes a bitmap's flags on every disk. */
export function patchBitmap(o: ObservedDomain, name: string, patch: Partial<ObservedBitmap>): void {
  for (const d of o.disks) {
    d.bitmaps = d.bitmaps.map((b) => (b.name === name ? { ...b, ...patch } : b));
  }
}

/** Compact view of a clean-up list: `name|why|meta?|disks|via`. */
export function cleanupView(plan: BackupPlan): string[] {
  return plan.cleanup.map(
    (c) =>
      `${c.checkpoint}|${c.why}|${c.deleteMetadata ? 'meta' : ''}|${c.bitmaps.map((b) => b.disk).join(',')}|${c.via}`,
  );
}
