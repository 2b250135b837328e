/**
 * The agent's repositories by configured name: opened once, created when the configuration says
 * so, and the repository operations the agent API offers (manifests, prune, GC).
 */
import type { SnapshotManifest, VerifyState } from '@virtvault/core';
import type { AgentGcResult, AgentPruneRequest, AgentPruneResult } from '@virtvault/proto';
import {
  collectGarbage,
  gcIncomplete,
  prune,
  readManifests,
  readVerifyResults,
  openOrInit,
  Repository,
} from '@virtvault/repo';

import type { RepositoryConfig } from './config.js';
import { AgentError } from './errors.js';

/** The configured repositories; `close()` stops every opened one. */
export class RepositorySet {
  readonly #configs: Map<string, RepositoryConfig>;
  readonly #open = new Map<string, Promise<Repository>>();

  /** @param configs the configuration's repositories */
  constructor(configs: readonly RepositoryConfig[]) {
    this.#configs = new Map(configs.map((c) => [c.name, c]));
  }

  /** Configured names. */
  get names(): string[] {
    return [...this.#configs.keys()];
  }

  /** The configuration of `name`; `REPOSITORY_UNKNOWN` when the agent has none by that name. */
  config(name: string): RepositoryConfig {
    const c = this.#configs.get(name);
    if (c === undefined) {
      const known = this.names.join(', ');
      throw new AgentError('REPOSITORY_UNKNOWN', `no repository "${name}" here (known: ${known})`);
    }
    return c;
  }

  /** The opened repository `name` (created on first use when configured `create`). */
  get(name: string): Promise<Repository> {
    const c = this.config(name);
    let p = this.#open.get(name);
    if (p === undefined) {
      p = openOrCreate(c);
      // a failed open is retried by the next call, not cached
      p.catch(() => this.#open.delete(name));
      this.#open.set(name, p);
    }
    return p;
  }

  /** Committed manifests of one domain; a damaged one is left out (the planner takes it as gone). */
  async listManifests(name: string, domainUuid: string): Promise<SnapshotManifest[]> {
    return (await readManifests(await this.get(name), domainUuid)).manifests;
  }

  /** Verify results recorded (`verify.json`) for one domain's committed snapshots, by id. */
  async verifyResults(name: string, domainUuid: string): Promise<Map<string, VerifyState>> {
    return readVerifyResults(await this.get(name), domainUuid);
  }

  /** GFS retention over one domain (or all); refuses a policy that keeps nothing. */
  async prune(req: AgentPruneRequest, signal?: AbortSignal): Promise<AgentPruneResult> {
    const { keepLast, keepDaily, keepWeekly, keepMonthly } = req;
    if (keepLast + keepDaily + keepWeekly + keepMonthly === 0) {
      // an all-zero request is far more likely a defaulted message than a wish to delete all
      throw new AgentError('BAD_RETENTION', 'a retention that keeps nothing is refused');
    }
    const repo = await this.get(req.repository);
    const r = await prune(repo, {
      policy: { keepLast, keepDaily, keepWeekly, keepMonthly },
      timeZone: req.timeZone ?? 'UTC',
      ...(req.domainUuid !== undefined ? { domain: req.domainUuid } : {}),
      ...(req.protect !== undefined ? { protect: req.protect } : {}),
      ...(req.dryRun !== undefined ? { dryRun: req.dryRun } : {}),
      ...(signal ? { signal } : {}),
    });
    const kept = r.kept.map((k) => k.snapshot);
    return { kept, removed: r.removed, inUse: r.inUse, damaged: r.damaged };
  }

  /** Mark and sweep in one repository. */
  async collectGarbage(
    name: string,
    dryRun: boolean,
    host: string,
    signal?: AbortSignal,
  ): Promise<AgentGcResult> {
    const r = await collectGarbage(await this.get(name), {
      dryRun,
      host,
      ...(signal ? { signal } : {}),
    });
    const incomplete = gcIncomplete(r);
    if (incomplete !== null) {
      throw new AgentError('REPO_GC_INCOMPLETE', incomplete);
    }
    return {
      marked: r.marked,
      swept: r.swept,
      sweptBytes: r.sweptBytes,
      removedSnapshots: r.removedSnapshots,
      removedBad: r.removedBad,
    };
  }

  /** Stops every opened repository's workers. */
  async close(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    for (const p of all) {
      await (await p.catch(() => null))?.close();
    }
  }
}

async function openOrCreate(c: RepositoryConfig): Promise<Repository> {
  if (c.create) {
    // another agent sharing the folder may be making it right now: openOrInit shares its result
    return openOrInit(c.path);
  }
  const repo = new Repository(c.path);
  await repo.open();
  return repo;
}
