/**
 * Filesystem freeze through the QEMU guest agent around the start of a backup job. The job's
 * point in time is the moment `virDomainBackupBegin` returns, so the guest is frozen just before
 * it and thawed right after, always (a frozen guest stops all its writes). Without an agent the
 * backup goes on crash-consistent and the caller is told why.
 */
import type { Consistency } from '@virtvault/core';
import { isAgentUnavailable, LibvirtError, type Domain } from '@virtvault/libvirt';

/** How a freeze attempt ended. */
export type FreezeAttempt =
  | { kind: 'frozen'; filesystems: number }
  | { kind: 'failed'; error: unknown }
  | { kind: 'timed-out'; afterMs: number };

/** The decision after a freeze attempt: what the snapshot records, and whether a thaw is owed. */
export interface QuiesceDecision {
  /** Consistency to record in the manifest. */
  consistency: Consistency;
  /** Why the snapshot is only crash-consistent although quiesce was asked; null when frozen. */
  note: string | null;
  /** True when the guest may be (partly) frozen and must be thawed. */
  thaw: boolean;
}

function message(e: unknown): string {
  if (e instanceof LibvirtError) {
    return `${e.code}: ${e.libvirtMessage}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Pure: what a freeze attempt means for the snapshot. */
export function decideQuiesce(attempt: FreezeAttempt): QuiesceDecision {
  if (attempt.kind === 'frozen') {
    if (attempt.filesystems > 0) {
      return { consistency: 'filesystem', note: null, thaw: true };
    }
    // the agent answered but froze nothing (no supported filesystem): still thaw to be sure
    const note = 'quiesce asked, but the guest agent froze no filesystem: crash-consistent';
    return { consistency: 'crash', note, thaw: true };
  }
  if (attempt.kind === 'timed-out') {
    const note =
      `quiesce asked, but the guest agent did not answer the freeze within ` +
      `${Math.round(attempt.afterMs / 1000)} s: crash-consistent`;
    // a late freeze is thawed as soon as it completes (see freezeGuest)
    return { consistency: 'crash', note, thaw: false };
  }
  if (isAgentUnavailable(attempt.error)) {
    const note = `quiesce asked, but no guest agent answered (${message(attempt.error)}): crash-consistent`;
    return { consistency: 'crash', note, thaw: false };
  }
  // the agent answered with an error; qemu-ga thaws on a failed freeze, we thaw too to be sure
  const note = `quiesce asked, but the freeze failed (${message(attempt.error)}): crash-consistent`;
  return { consistency: 'crash', note, thaw: true };
}

/** Options of {@link freezeGuest}. */
export interface FreezeOptions {
  /** Longest wait for the agent; libvirt's own default blocks forever. @default 30000 */
  timeoutMs?: number;
}

/**
 * Freezes the guest's filesystems, waiting at most `timeoutMs`. A freeze still pending at the
 * deadline is thawed whenever it completes, so a late answer never leaves the guest frozen.
 */
export async function freezeGuest(domain: Domain, o: FreezeOptions = {}): Promise<FreezeAttempt> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  let timedOut = false;
  const freeze = domain.fsFreeze().then(
    (n): FreezeAttempt => {
      if (timedOut) {
        void thawGuest(domain);
      }
      return { kind: 'frozen', filesystems: n };
    },
    (error: unknown): FreezeAttempt => ({ kind: 'failed', error }),
  );
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<FreezeAttempt>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve({ kind: 'timed-out', afterMs: timeoutMs });
    }, timeoutMs);
  });
  try {
    return await Promise.race([freeze, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Thaws the guest, retrying twice (an agent busy for a moment must not leave it frozen), each
 * try waiting at most `timeoutMs`: libvirt's agent call blocks as long as the agent does (a
 * thaw hook script that hangs), and the backup job, begun already, held the run meanwhile with
 * no signal heard. A thaw still pending at the deadline goes on; the backup does too, saying so.
 * @returns null when thawed, else the last error's message
 */
export async function thawGuest(domain: Domain, o: FreezeOptions = {}): Promise<string | null> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  let last = '';
  for (let i = 0; i < 3; i++) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    try {
      if ((await Promise.race([domain.fsThaw().then(() => 'thawed' as const), late])) === 'late') {
        return `the guest agent did not answer the thaw within ${timeoutMs} ms (it may still be frozen)`;
      }
      return null;
    } catch (e) {
      last = message(e);
    } finally {
      clearTimeout(timer);
    }
  }
  return last;
}

/** What {@link withQuiesce} reports besides the callback's result. */
export interface Quiesced<T> {
  /** The callback's result. */
  value: T;
  /** Consistency reached. */
  consistency: Consistency;
  /** Notes for the user (why crash-consistent, a failed thaw). */
  notes: string[];
}

/**
 * Runs `start` (the backup job's start) with the guest frozen when `quiesce` is set and an
 * agent answers; the thaw is in a `finally`, so a failing start or an abort thaws too.
 */
export async function withQuiesce<T>(
  domain: Domain,
  quiesce: boolean,
  start: () => Promise<T>,
  o: FreezeOptions = {},
): Promise<Quiesced<T>> {
  if (!quiesce) {
    return { value: await start(), consistency: 'crash', notes: [] };
  }
  const decision = decideQuiesce(await freezeGuest(domain, o));
  const notes = decision.note === null ? [] : [decision.note];
  try {
    return { value: await start(), consistency: decision.consistency, notes };
  } finally {
    if (decision.thaw) {
      const failed = await thawGuest(domain, o);
      if (failed !== null) {
        notes.push(`warning: thawing the guest's filesystems failed: ${failed}`);
      }
    }
  }
}
