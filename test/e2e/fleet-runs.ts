/**
 * Run accounting for the fleet tests: which runs are new since a point, waiting for the next
 * successful one, waiting for the fleet to go quiet, and the summary fields the tests check.
 */
import { type ApiRun, type Fleet, sleep } from './fleet.js';
import { parsePrometheus, type PromFamily } from './prom-parse.js';

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

/** The controller's `/metrics`, parsed. */
export async function fetchMetrics(fleet: Fleet): Promise<Map<string, PromFamily>> {
  const res = await fetch(`${fleet.url}/metrics`, {
    headers: { authorization: `Bearer ${fleet.token}` },
  });
  return parsePrometheus(await res.text());
}

/** Backup jobs in every host queue, waiting, active or delayed (a retry's backoff), per /metrics. */
export async function queuedJobs(fleet: Fleet): Promise<number> {
  const family = (await fetchMetrics(fleet)).get('virtvault_queue_depth');
  return (family?.samples ?? []).reduce((n, s) => n + s.value, 0);
}

/**
 * Waits until no run is running, no job waits in a queue (a retry waiting out its backoff makes no
 * run until it starts), and the run count stayed the same for a few seconds.
 */
export async function settle(fleet: Fleet, timeoutMs = 180_000): Promise<ApiRun[]> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const runs = await fleet.runs();
    const queued = await queuedJobs(fleet);
    const quiet = runs.every((r) => r.status !== 'running') && queued === 0;
    if (runs.length === last && quiet) {
      return runs;
    }
    if (Date.now() > deadline) {
      const running = runs.filter((r) => r.status === 'running').length;
      throw new Error(`the fleet did not settle: ${running} running, ${queued} queued`);
    }
    last = quiet ? runs.length : -1;
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
