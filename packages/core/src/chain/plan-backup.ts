/**
 * The chain planner (DESIGN.md section 5): pure, given the lineage, what the agent observed, the
 * level policy and the time. Every chain breaker of peers.md section 3 maps to a reason code and a
 * decision here (see `breakers.ts`). A broken old checkpoint never blocks a run: the worst outcome
 * is a full plus clean-up.
 */
import type { DomainLineage, LineageCheckpoint, LineageSnapshot } from '../model/lineage.js';
import type { ObservedDomain } from '../model/observed.js';
import type { BackupPlan, NewCheckpointPlan, RedefineAction } from '../model/plan.js';
import type { LevelPolicy } from '../model/policy.js';
import { isReasonCode } from '../model/reasons.js';

import { checkBitmaps } from './bitmap-health.js';
import { isLineageConcern, isOwnCheckpoint } from './checkpoint-names.js';
import { hostNames, planCleanup } from './cleanup.js';
import { diskChanges } from './disk-changes.js';
import { lastFullIndex, policyFullCause } from './policy-full.js';
import { ReasonLog } from './reason-log.js';

/** The snapshot and checkpoint an incremental or differential would build on. */
interface Base {
  snapshot: LineageSnapshot;
  checkpoint: LineageCheckpoint | undefined;
}

/**
 * Checkpoint and bitmap names on the host that are not this lineage's concern: other tools', and
 * other virtvault lineages' (those this lineage does not record).
 */
function foreignNames(lineage: DomainLineage, observed: ObservedDomain): string[] {
  const foreign = hostNames(observed).filter((n) => !isLineageConcern(n, lineage));
  return [...new Set(foreign)].sort();
}

/** Informational findings that never change the level. */
function noteDomain(lineage: DomainLineage, observed: ObservedDomain, log: ReasonLog): void {
  const foreign = foreignNames(lineage, observed);
  const tools = foreign.filter((n) => !isOwnCheckpoint(n));
  const lineages = foreign.filter(isOwnCheckpoint);
  if (tools.length > 0) {
    log.add('FOREIGN_CHECKPOINTS_IGNORED', `left alone: ${tools.join(', ')}`);
  }
  if (lineages.length > 0) {
    log.add(
      'FOREIGN_CHECKPOINTS_IGNORED',
      `left alone, another virtvault lineage's: ${lineages.join(', ')}`,
    );
  }
  if (observed.domain.state === 'shut-off') {
    log.add('DOMAIN_SHUT_OFF', 'domain is shut off: offline backup');
  }
  const unsupported = observed.disks.filter((d) => !d.bitmapsSupported);
  // with one disk that can, the checkpoint covers it and only the others are read in full
  const code =
    unsupported.length === observed.disks.length ? 'BITMAPS_UNSUPPORTED' : 'DISKS_WITHOUT_BITMAPS';
  for (const d of unsupported) {
    log.add(code, `disk ${d.target} (${d.format}) cannot hold persistent bitmaps: read in full`);
  }
}

/** Picks the parent snapshot for the requested level, recording why there is none. */
function pickBase(lineage: DomainLineage, policy: LevelPolicy, log: ReasonLog): Base | null {
  const snaps = lineage.snapshots;
  const last = snaps[snaps.length - 1];
  if (!last) {
    log.add('NO_PARENT', 'no snapshot of this domain in this repository');
    return null;
  }
  const snapshot = policy.level === 'differential' ? snaps[lastFullIndex(snaps)] : last;
  if (!snapshot) {
    log.add('NO_PARENT', 'no full snapshot to take a differential against');
    return null;
  }
  const checkpoint = lineage.checkpoints.find((c) => c.name === snapshot.checkpoint);
  return { snapshot, checkpoint };
}

/**
 * Checks the parent snapshot, its disks and its checkpoint's bitmaps. A migration is told by the
 * newest snapshot's host, not the parent's: a differential's parent is the last full, and every
 * differential after a move would report the same move again.
 */
function checkBase(
  base: Base,
  newest: LineageSnapshot,
  observed: ObservedDomain,
  log: ReasonLog,
): void {
  const { snapshot, checkpoint } = base;
  if (newest.host !== observed.host) {
    log.add(
      'DOMAIN_MIGRATED',
      `snapshot ${newest.id} was taken on ${newest.host}, domain now on ${observed.host}`,
    );
  }
  if (snapshot.status !== 'committed' || snapshot.verify === 'failed') {
    const why = snapshot.status !== 'committed' ? snapshot.status : 'failed verify';
    log.add('PARENT_SNAPSHOT_UNUSABLE', `parent snapshot ${snapshot.id}: ${why}`);
  }
  for (const change of diskChanges(snapshot.disks, observed.disks)) {
    log.add('DISKS_CHANGED', change);
  }
  if (!checkpoint && log.has('BITMAPS_UNSUPPORTED')) {
    return; // no checkpoint is ever made for such a domain; BITMAPS_UNSUPPORTED says it all
  }
  if (!checkpoint || checkpoint.state !== 'live') {
    const what = checkpoint
      ? `is ${checkpoint.state} (${checkpoint.stateReason ?? 'no reason'})`
      : 'does not exist';
    log.add('PARENT_CHECKPOINT_UNUSABLE', `checkpoint of parent ${snapshot.id} ${what}`);
    // the cause found when it was marked (by `doctor --fix` or an earlier run), so that the run
    // records the code doctor named before the fix
    const cause = checkpoint?.stateReason;
    if (checkpoint && cause && isReasonCode(cause) && cause !== 'PARENT_CHECKPOINT_UNUSABLE') {
      log.add(cause, `checkpoint ${checkpoint.name} was found ${checkpoint.state}: ${cause}`);
    }
    return;
  }
  for (const f of checkBitmaps(checkpoint.name, checkpoint.disks, observed.disks)) {
    log.add(f.problem, `bitmap ${f.bitmap} on disk ${f.disk}: ${f.problem.toLowerCase()}`);
  }
}

/** Redefine of the parent when libvirt lost its metadata on this host (peers.md B2, B3). */
function planRedefine(
  checkpoint: LineageCheckpoint,
  observed: ObservedDomain,
  log: ReasonLog,
): RedefineAction[] {
  if (observed.checkpoints.some((c) => c.name === checkpoint.name)) {
    return [];
  }
  log.add(
    'CHECKPOINT_REDEFINED',
    `libvirt on ${observed.host} has no metadata for ${checkpoint.name}`,
  );
  if (observed.domain.transient) {
    log.add(
      'DOMAIN_TRANSIENT',
      'transient domain: checkpoint metadata is lost on every re-creation',
    );
  }
  // Validation needs a running QEMU; plain REDEFINE works offline (lab.md section 7).
  const validate = observed.domain.state !== 'shut-off';
  return [{ checkpoint: checkpoint.name, xml: checkpoint.xml, validate }];
}

/** Live lineage checkpoints whose bitmaps are found broken, to record as such. */
function brokenInLineage(
  lineage: DomainLineage,
  observed: ObservedDomain,
): BackupPlan['markBroken'] {
  const out: BackupPlan['markBroken'] = [];
  for (const c of lineage.checkpoints) {
    if (c.state !== 'live') {
      continue;
    }
    const problem = checkBitmaps(c.name, c.disks, observed.disks).find(
      (f) => f.problem !== 'BITMAP_BUSY',
    );
    if (problem) {
      out.push({ checkpoint: c.name, reason: problem.problem });
    }
  }
  return out;
}

/** The checkpoint this run creates over the disks that can hold bitmaps, or null for none. */
function planNewCheckpoint(
  observed: ObservedDomain,
  owner: string | undefined,
): NewCheckpointPlan | null {
  const disks = observed.disks.filter((d) => d.bitmapsSupported).map((d) => d.target);
  if (disks.length === 0) {
    return null;
  }
  const mode = observed.domain.state === 'shut-off' ? 'offline' : 'live';
  return { disks, mode, ...(owner ? { owner } : {}) };
}

/** Checkpoints this repository may still build on: the last snapshot's and the last full's. */
function heads(lineage: DomainLineage): Set<string> {
  const snaps = lineage.snapshots;
  const keep = [snaps[snaps.length - 1], snaps[lastFullIndex(snaps)]];
  return new Set(keep.flatMap((s) => (s?.checkpoint ? [s.checkpoint] : [])));
}

/**
 * Plans one backup of `observed.domain` into `lineage.repository`.
 *
 * @param lineage the domain's lineage (snapshots of this repository, all its checkpoints)
 * @param observed what the agent saw just now
 * @param policy level rules
 * @param now epoch ms
 */
export function planBackup(
  lineage: DomainLineage,
  observed: ObservedDomain,
  policy: LevelPolicy,
  now: number,
): BackupPlan {
  const log = new ReasonLog();
  noteDomain(lineage, observed, log);
  const cause = policyFullCause(policy, lineage.snapshots, now);
  if (cause) {
    log.add('POLICY_FULL', cause);
  }
  const base = pickBase(lineage, policy, log);
  const newest = lineage.snapshots[lineage.snapshots.length - 1];
  if (base && newest) {
    checkBase(base, newest, observed, log);
  }
  let redefine: RedefineAction[] = [];
  const incremental = base?.checkpoint && !log.forcesFull() ? base.checkpoint : null;
  if (incremental) {
    redefine = planRedefine(incremental, observed, log);
  }
  const cleanup = planCleanup(lineage, observed, heads(lineage));
  if (cleanup.some((c) => c.why === 'orphan')) {
    const names = cleanup.filter((c) => c.why === 'orphan').map((c) => c.checkpoint);
    log.add('ORPHAN_CHECKPOINTS', `no snapshot uses ${names.join(', ')}`);
  }
  return {
    level: incremental
      ? policy.level === 'differential'
        ? 'differential'
        : 'incremental'
      : 'full',
    parentSnapshot: incremental && base ? base.snapshot.id : null,
    incrementalFrom: incremental ? incremental.name : null,
    redefine,
    cleanup,
    markBroken: brokenInLineage(lineage, observed),
    newCheckpoint: planNewCheckpoint(observed, lineage.owner),
    reasons: log.reasons(),
    details: log.details(),
  };
}
