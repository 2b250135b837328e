/**
 * Run accounting for the fleet tests: which runs are new since a point, waiting for the next
 * successful one, waiting for the fleet to go quiet, and the summary fields the tests check.
 */
import { type ApiRun, type Fleet, sleep } from './fleet.js';

/** Successful runs of `vm`. */
export const ok = (runs: ApiRun[], vm: string): ApiRun[] =>
  runs.filter((r) => r.domainName === vm && r.status === 'succeeded');

/** Runs of `vm` that are not in `before`. */
export const fresh = (before: ApiRun[], runs: ApiRun[], vm: string): ApiRun[] =>
  runs.filter((r) => r.domainName === vm && !before.some((b) => b.id === r.id));

/** The first successful run of `vm` after `before` (waited for). */
export async function nextOk(
  fleet: Fleet,
  before: ApiRun[],
  vm: string,
  what: string,
): Promise<{ run: ApiRun; runs: ApiRun[] }> {
  const runs = await fleet.waitRuns(what, (rs) =>
    fresh(before, rs, vm).some((r) => r.status === 'succeeded'),
  );
  return { run: fresh(before, runs, vm).find((r) => r.status === 'succeeded') as ApiRun, runs };
}

/** Waits until no run is running and the run count stayed the same for a few seconds. */
export async function settle(fleet: Fleet): Promise<ApiRun[]> {
  let last = -1;
  for (;;) {
    const runs = await fleet.runs();
    if (runs.length === last && runs.every((r) => r.status !== 'running')) {
      return runs;
    }
    last = runs.length;
    await sleep(4000);
  }
}

/** The parts of `GET /api/v1/summary` the tests check. */
export interface Summary {
  protection: Record<string, number>;
  hostDays: { host: string; succeeded: number; failed: number; abandoned: number }[];
  chainBreaks: { reason: string; runs: number }[];
  repairs: { reason: string; runs: number }[];
  migrations: { name: string; fromHost: string | null; toHost: string }[];
  repositories: { repository: string; snapshots: number }[];
}
