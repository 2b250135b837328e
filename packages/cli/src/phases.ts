/**
 * Where a backup's time went: the moments the engine reports (`BackupPhase`) turned into the
 * durations `backup` prints. The last attempt counts (a retried incremental's first attempt is
 * part of `prepareMs`), so the durations always add up to the whole run.
 */
import type { BackupPhase } from '@virtvault/engine';

/** Durations of one backup run, in ms; they add up to its `durationMs`. */
export interface BackupPhases {
  /** From the command's start to the (last) attempt's start: lineage, libvirt, planning. */
  prepareMs: number;
  /** Starting the backup job (or holding a stopped domain's images) and its NBD export. */
  beginMs: number;
  /** Reading the disks and storing their chunks. */
  copyMs: number;
  /** Making the chunks durable and writing indexes and manifest. */
  commitMs: number;
  /** Ending the job, recording the run in the lineage, closing up. */
  finishMs: number;
}

/** Collects the moments of each phase with the caller's clock. */
export class PhaseClock {
  readonly #at = new Map<BackupPhase, number>();

  /** @param now the clock (ms) */
  constructor(private readonly now: () => number) {}

  /** Records `phase` now (again, for a retried attempt). */
  mark(phase: BackupPhase): void {
    this.#at.set(phase, this.now());
  }

  /**
   * The durations of a run that began at `started` and ended at `ended`, or null when a phase was
   * never reached (the run failed before its commit).
   */
  phases(started: number, ended: number): BackupPhases | null {
    const s = this.#at.get('started');
    const copying = this.#at.get('copying');
    const committing = this.#at.get('committing');
    const committed = this.#at.get('committed');
    if (
      s === undefined ||
      copying === undefined ||
      committing === undefined ||
      committed === undefined ||
      // a wall clock set back mid-run: no durations rather than negative ones
      !(started <= s && s <= copying && copying <= committing && committing <= committed) ||
      committed > ended
    ) {
      return null;
    }
    return {
      prepareMs: s - started,
      beginMs: copying - s,
      copyMs: committing - copying,
      commitMs: committed - committing,
      finishMs: ended - committed,
    };
  }
}

/** One line for people: `prepare 1.1 s, job start 0.2 s, copy 4.7 s, commit 0.4 s, finish 0.1 s`. */
export function describePhases(p: BackupPhases): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return (
    `prepare ${s(p.prepareMs)}, job start ${s(p.beginMs)}, copy ${s(p.copyMs)}, ` +
    `commit ${s(p.commitMs)}, finish ${s(p.finishMs)}`
  );
}
