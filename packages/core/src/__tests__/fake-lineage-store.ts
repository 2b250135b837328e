/**
 * In-memory `LineageStore` for runBackup unit tests. Same rules as the Postgres store: one running
 * run per domain, stale runs taken over, idempotent commit and reconcile.
 */
import { CoreError } from '../errors.js';
import { checkpointFromManifest, snapshotFromManifest } from '../model/from-manifest.js';
import type { DomainLineage, LineageCheckpoint, LineageSnapshot } from '../model/lineage.js';
import type { SnapshotManifest } from '../model/manifest.js';
import type {
  CheckpointStateUpdate,
  LineageEvent,
  LineageStore,
  ReconcileResult,
  RunFailure,
  RunStart,
  SnapshotCommit,
} from '../run/ports.js';

/** A stored run. */
export interface FakeRun extends RunStart {
  status: 'running' | 'succeeded' | 'failed' | 'abandoned';
  heartbeatAt: number;
  errorCode: string | null;
  finalLevel: string | null;
  reasons: string[];
}

/** Failures after which a run's snapshot may be committed (as `select-domain.sql` lists them). */
const OUTCOME_UNKNOWN = [
  'LINEAGE_COMMIT_FAILED',
  'AGENT_UNAVAILABLE',
  'AGENT_TIMEOUT',
  'AGENT_CANCELLED',
  'AGENT_ERROR',
];

export class FakeLineageStore implements LineageStore {
  readonly runs: FakeRun[] = [];
  readonly events: LineageEvent[] = [];
  readonly snapshots: (LineageSnapshot & { repository: string; domainUuid: string })[] = [];
  readonly checkpoints: (LineageCheckpoint & { domainUuid: string })[] = [];
  readonly domains = new Map<string, { name: string; currentHost: string }>();

  /** @param owner the lineage's owner tag (none: untagged checkpoint names, as old stores) */
  constructor(readonly owner?: string) {}

  beginRun(run: RunStart, staleAfterMs: number): Promise<string[]> {
    const abandoned: string[] = [];
    for (const r of this.runs) {
      if (
        r.domain.uuid === run.domain.uuid &&
        r.status === 'running' &&
        run.startedAt - r.heartbeatAt >= staleAfterMs
      ) {
        r.status = 'abandoned';
        r.errorCode = 'RUN_ABANDONED';
        abandoned.push(r.id);
      }
    }
    if (this.runs.some((r) => r.domain.uuid === run.domain.uuid && r.status === 'running')) {
      return Promise.reject(new CoreError('ALREADY_RUNNING', 'a run is running'));
    }
    this.domains.set(run.domain.uuid, { name: run.domain.name, currentHost: run.host });
    this.runs.push({
      ...run,
      status: 'running',
      heartbeatAt: run.startedAt,
      errorCode: null,
      finalLevel: null,
      reasons: [],
    });
    return Promise.resolve(abandoned);
  }

  heartbeat(runId: string, at: number): Promise<boolean> {
    const r = this.runs.find((x) => x.id === runId && x.status === 'running');
    if (r) {
      r.heartbeatAt = Math.max(r.heartbeatAt, at);
    }
    return Promise.resolve(r !== undefined);
  }

  private importManifest(repository: string, m: SnapshotManifest): boolean {
    if (this.snapshots.some((s) => s.repository === repository && s.id === m.id)) {
      return false;
    }
    this.snapshots.push({ ...snapshotFromManifest(m), repository, domainUuid: m.domain.uuid });
    const c = checkpointFromManifest(m, repository);
    if (c && !this.checkpoints.some((x) => x.domainUuid === m.domain.uuid && x.name === c.name)) {
      this.checkpoints.push({ ...c, domainUuid: m.domain.uuid });
    }
    return true;
  }

  reconcile(
    repository: string,
    domainUuid: string,
    manifests: readonly SnapshotManifest[],
  ): Promise<ReconcileResult> {
    const imported = manifests.filter((m) => this.importManifest(repository, m)).map((m) => m.id);
    const ids = new Set(manifests.map((m) => m.id));
    const missing: string[] = [];
    const found: string[] = [];
    for (const s of this.snapshots) {
      if (s.repository !== repository || s.domainUuid !== domainUuid) {
        continue;
      }
      if (s.status === 'committed' && !ids.has(s.id)) {
        s.status = 'missing';
        missing.push(s.id);
      } else if (s.status === 'missing' && ids.has(s.id)) {
        s.status = 'committed';
        found.push(s.id);
      }
    }
    return Promise.resolve({ imported, missing, found });
  }

  noteCheckpoint(runId: string, checkpoint: string): Promise<void> {
    const r = this.runs.find((x) => x.id === runId && x.status === 'running');
    if (r) {
      r.newCheckpoint = checkpoint;
    }
    return Promise.resolve();
  }

  /** As `select-domain.sql`: checkpoints of runs whose outcome the lineage never learnt. */
  // not a #private method: tests derive stores from this one with Object.create
  unconfirmedOf(domainUuid: string): { name: string; repository: string; running?: boolean }[] {
    const unknown = (name: string) =>
      !this.checkpoints.some((c) => c.domainUuid === domainUuid && c.name === name);
    return this.runs.flatMap((r) =>
      r.domain.uuid === domainUuid &&
      r.newCheckpoint !== undefined &&
      (r.status === 'running' ||
        r.status === 'abandoned' ||
        (r.status === 'failed' && OUTCOME_UNKNOWN.includes(r.errorCode ?? ''))) &&
      unknown(r.newCheckpoint)
        ? [
            {
              name: r.newCheckpoint,
              repository: r.repository,
              ...(r.status === 'running' ? { running: true } : {}),
            },
          ]
        : [],
    );
  }

  loadLineage(repository: string, domain: { uuid: string; name: string }): Promise<DomainLineage> {
    const strip = <T extends object>(x: T, ...keys: string[]): T =>
      Object.fromEntries(Object.entries(x).filter(([k]) => !keys.includes(k))) as T;
    return Promise.resolve({
      repository,
      domain: { ...domain, currentHost: this.domains.get(domain.uuid)?.currentHost ?? null },
      snapshots: this.snapshots
        .filter((s) => s.repository === repository && s.domainUuid === domain.uuid)
        .sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id))
        .map((s) => strip(s, 'repository', 'domainUuid')),
      checkpoints: this.checkpoints
        .filter((c) => c.domainUuid === domain.uuid)
        .map((c) => strip(c, 'domainUuid')),
      unconfirmed: this.unconfirmedOf(domain.uuid),
      ...(this.owner !== undefined ? { owner: this.owner } : {}),
    });
  }

  markCheckpoints(domainUuid: string, updates: readonly CheckpointStateUpdate[]): Promise<void> {
    for (const u of updates) {
      const c = this.checkpoints.find(
        (x) => x.domainUuid === domainUuid && x.name === u.checkpoint,
      );
      if (c) {
        c.state = u.state;
        c.stateReason = u.reason;
      }
    }
    return Promise.resolve();
  }

  commitSnapshot(commit: SnapshotCommit): Promise<void> {
    this.importManifest(commit.repository, commit.manifest);
    const r = this.runs.find((x) => x.id === commit.runId);
    if (r) {
      r.status = 'succeeded';
      r.finalLevel = commit.manifest.level;
      r.reasons = commit.reasons;
    }
    return Promise.resolve();
  }

  failRun(runId: string, failure: RunFailure): Promise<void> {
    const r = this.runs.find((x) => x.id === runId);
    if (r) {
      r.status = 'failed';
      r.errorCode = failure.errorCode;
      r.reasons = failure.reasons;
    }
    return Promise.resolve();
  }

  recordEvent(event: LineageEvent): Promise<void> {
    this.events.push(event);
    return Promise.resolve();
  }
}
