/**
 * `virtvault doctor --fix`: carries out the plan's clean-up of broken and orphaned checkpoints and
 * bitmaps of ours, one action at a time (a failure does not stop the others), and says per
 * checkpoint what came of it.
 */
import {
  type BackupPlan,
  type CleanupItem,
  type Hypervisor,
  type LineageStore,
  recordBroken,
  removedUpdates,
} from '@virtvault/core';

import { errorFields } from '../output.js';

/** One clean-up action `--fix` took. */
export interface FixAction {
  /** The checkpoint whose clean-up this action is part of. */
  checkpoint: string;
  /** What was done, for a person. */
  action: string;
  /** Whether it succeeded. */
  ok: boolean;
  /** Why it failed: the error's stable code and message. */
  error?: { code: string; message: string; cause?: string };
}

/** The code of a `--fix` some of whose actions failed (exit 1). */
export const DOCTOR_FIX_INCOMPLETE = 'DOCTOR_FIX_INCOMPLETE';
/** The code of a `--fix` stopped by a signal, and of each action it did not take then. */
export const DOCTOR_INTERRUPTED = 'DOCTOR_INTERRUPTED';

/** The actions `fix` took (succeeded or failed), leaving out those an interruption skipped. */
export function takenActions(fixed: readonly FixAction[]): FixAction[] {
  return fixed.filter((a) => a.error?.code !== DOCTOR_INTERRUPTED);
}

/**
 * Carries out every clean-up action of `plan` on domain `uuid`, recording each outcome. Once
 * `signal` aborts (a Ctrl-C), no further action is taken; those left are listed as not taken
 * (`DOCTOR_INTERRUPTED`), so their checkpoints are not recorded as cleaned up.
 */
export async function fix(
  hv: Pick<Hypervisor, 'deleteCheckpointMetadata' | 'removeBitmap'>,
  uuid: string,
  plan: BackupPlan,
  signal?: AbortSignal,
): Promise<FixAction[]> {
  const out: FixAction[] = [];
  const attempt = async (checkpoint: string, action: string, step: () => Promise<void>) => {
    if (signal?.aborted === true) {
      // listed as not taken: an item with an action left is not done, and is not recorded so
      const error = { code: DOCTOR_INTERRUPTED, message: 'not taken: interrupted' };
      out.push({ checkpoint, action, ok: false, error });
      return false;
    }
    try {
      await step();
      out.push({ checkpoint, action, ok: true });
      return true;
    } catch (e) {
      out.push({ checkpoint, action, ok: false, error: errorFields(e) });
      return false;
    }
  };
  for (const item of plan.cleanup) {
    const c = item.checkpoint;
    const metadataGone =
      !item.deleteMetadata ||
      (await attempt(c, `delete checkpoint metadata ${c} (${item.why})`, () =>
        hv.deleteCheckpointMetadata(uuid, c),
      ));
    // metadata that stays keeps its bitmaps: libvirt never holds a checkpoint without them
    if (!metadataGone) {
      continue;
    }
    for (const b of item.bitmaps) {
      await attempt(c, `remove bitmap ${b.bitmap} from ${b.disk}`, () =>
        hv.removeBitmap(uuid, b.disk, b.bitmap, item.via),
      );
    }
  }
  return out;
}

/**
 * Tells the lineage what `--fix` changed, as a backup's clean-up does: the checkpoints the plan
 * found broken (with a `chain-broken` event each), and those whose every action succeeded as
 * deleted, with the reason. Without it the next run found them gone while the lineage said live,
 * and recorded another reason than the one doctor had named (or a `chain-broken` event for a
 * superseded checkpoint `--fix` had removed on purpose).
 */
export async function recordFix(
  store: Pick<LineageStore, 'markCheckpoints' | 'recordEvent'>,
  uuid: string,
  plan: BackupPlan,
  fixed: readonly FixAction[],
  at: number,
): Promise<void> {
  await recordBroken(
    store,
    { domainUuid: uuid, runId: null, time: at },
    plan.markBroken,
    ' (doctor --fix)',
  );
  const done = (c: CleanupItem) =>
    fixed.filter((a) => a.checkpoint === c.checkpoint).every((a) => a.ok);
  const removed = plan.cleanup.filter(done);
  if (removed.length > 0) {
    await store.markCheckpoints(uuid, removedUpdates(removed), at);
  }
}

/** The message of a `--fix` with failed actions, or null when every one succeeded (or none ran). */
export function fixIncomplete(fixed: FixAction[] | null): string | null {
  const failed = (fixed ?? []).filter((a) => !a.ok);
  if (failed.length === 0) {
    return null;
  }
  const total = fixed?.length ?? 0;
  return `${failed.length} of ${total} clean-up actions failed; the next backup tries them again`;
}

/** `name (why, reason)`: a clean-up item as the text report names it. */
function itemText(c: CleanupItem): string {
  return `${c.checkpoint} (${c.why}${c.reason ? `, ${c.reason}` : ''})`;
}

/**
 * The text report's clean-up lines: what will be cleaned up, or, after `--fix`, each checkpoint
 * with done or FAILED, and each of its actions below it.
 */
export function cleanupLines(plan: BackupPlan, fixed: FixAction[] | null): string[] {
  if (fixed === null) {
    return plan.cleanup.map((c) => `  will clean up ${itemText(c)}`);
  }
  return plan.cleanup.flatMap((c) => {
    const actions = fixed.filter((a) => a.checkpoint === c.checkpoint);
    const ok = actions.every((a) => a.ok);
    return [
      `  clean up ${itemText(c)}: ${ok ? 'done' : 'FAILED'}`,
      ...actions.map(
        (a) =>
          `    ${a.action}: ${a.ok ? 'done' : `FAILED: ${a.error?.code}: ${a.error?.message}`}`,
      ),
    ];
  });
}
