/**
 * `Notifier`: sends RPO violations, failed runs and chain breaks to webhooks as JSON, retried with
 * backoff. Events are found by polling the lineage, queued in its outbox under a dedupe key (so
 * several replicas, or a restart, send each once), then claimed and posted.
 */
import { isChainBreak } from '@virtvault/core';
import type { FinishedRun, PolicySettings, ReportStore } from '@virtvault/lineage';

import { type VmReport, vmReports } from './figures.js';
import { webhookOrigin } from './webhook-origin.js';

/** Notification kinds. */
export type NotificationKind = 'rpo-violation' | 'run-failed' | 'chain-break';

/** Options of {@link Notifier}. */
export interface NotifierOptions {
  /** The report store (outbox included). */
  store: ReportStore;
  /** Webhooks for every policy. */
  webhooks: readonly string[];
  /** Kinds sent to the global webhooks (all when empty). */
  events?: readonly NotificationKind[];
  /** RPO for VMs whose policy sets none, ms. */
  defaultRpoMs: number;
  /** How often to look for news and deliver. @default 15000 */
  intervalMs?: number;
  /** First retry delay; doubled per attempt. @default 15000 */
  retryBaseMs?: number;
  /** Attempts before giving up. @default 6 */
  maxAttempts?: number;
  /** Epoch ms. */
  now: () => number;
  /** Log line. */
  log?: (line: string) => void;
}

interface Pending {
  kind: NotificationKind;
  key: string;
  domainUuid: string;
  policy: string | null;
  payload: Record<string, unknown>;
}

function runPayload(r: FinishedRun, kind: NotificationKind): Pending {
  return {
    kind,
    key: `${kind}:${r.id}`,
    domainUuid: r.domainUuid,
    policy: r.policy,
    payload: {
      kind,
      at: new Date(r.finishedAt).toISOString(),
      vm: { uuid: r.domainUuid, name: r.name, host: r.host },
      policy: r.policy,
      run: {
        id: r.id,
        status: r.status,
        level: r.level,
        reasons: r.reasons,
        breaks: r.reasons.filter(isChainBreak),
        errorCode: r.errorCode,
        errorMessage: r.errorMessage,
        snapshot: r.snapshotId,
        repository: r.repository,
      },
    },
  };
}

function rpoPayload(v: VmReport, now: number): Pending {
  return {
    kind: 'rpo-violation',
    key: `rpo-violation:${v.uuid}:${v.lastSnapshot?.id ?? 'never'}`,
    domainUuid: v.uuid,
    policy: v.lastRun?.policy ?? null,
    payload: {
      kind: 'rpo-violation',
      at: new Date(now).toISOString(),
      vm: { uuid: v.uuid, name: v.name, host: v.currentHost },
      policy: v.lastRun?.policy ?? null,
      rpo: {
        status: v.rpo,
        rpoSeconds: v.rpoAppliedSeconds,
        ageSeconds: v.ageSeconds,
        lastGoodSnapshot: v.lastSnapshot?.id ?? null,
        lastGoodAt: v.lastSnapshot ? new Date(v.lastSnapshot.endedAt).toISOString() : null,
        lastRunStatus: v.lastRun?.status ?? null,
        lastRunError: v.lastRun?.errorCode ?? null,
      },
    },
  };
}

/** How far back each round reads again, beyond the last round's end. */
const RESCAN_MS = 5 * 60_000;

/** Finds news and delivers notifications. `start()` polls; `stop()` ends (idempotent). */
export class Notifier {
  readonly #o: NotifierOptions;
  #timer: NodeJS.Timeout | null = null;
  #since: number;
  #tick: Promise<void> = Promise.resolve();

  /** @param options see {@link NotifierOptions} */
  constructor(options: NotifierOptions) {
    this.#o = options;
    // an hour back: a restarted controller still reports what happened while it was down
    this.#since = options.now() - 3_600_000;
  }

  /** Starts polling. */
  start(): void {
    if (this.#timer === null) {
      this.#timer = setInterval(() => {
        this.#tick = this.#tick
          .then(async () => {
            await this.runOnce();
          })
          .catch((e: unknown) => {
            this.#o.log?.(`notifier: ${e instanceof Error ? e.message : String(e)}`);
          });
      }, this.#o.intervalMs ?? 15_000);
    }
  }

  /** Stops polling and waits for the current round. */
  async stop(): Promise<void> {
    if (this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    await this.#tick.catch(() => undefined);
  }

  /** One round: queue news, then deliver what is due. Returns the numbers for tests and logs. */
  async runOnce(): Promise<{ queued: number; delivered: number; failed: number }> {
    const queued = await this.#queueNews();
    const { delivered, failed } = await this.#deliver();
    return { queued, delivered, failed };
  }

  async #queueNews(): Promise<number> {
    const { store } = this.#o;
    const now = this.#o.now();
    // read again with an overlap: a run's finish time is stamped before its transaction
    // commits, so a round can miss a run that finished just before it; dedupe keys make the
    // overlap free
    const [runs, vms, settings] = await Promise.all([
      store.finishedRuns(this.#since - RESCAN_MS, now),
      store.vmStatus(),
      store.policySettings(),
    ]);
    const pending: Pending[] = [];
    for (const r of runs) {
      if (r.status === 'failed' || r.status === 'abandoned') {
        pending.push(runPayload(r, 'run-failed'));
      }
      if (r.status === 'succeeded' && r.reasons.some(isChainBreak)) {
        pending.push(runPayload(r, 'chain-break'));
      }
    }
    for (const v of vmReports(vms, now, this.#o.defaultRpoMs)) {
      // a VM nothing ever tried to back up is not a violation of anything yet
      if (v.rpo === 'violated' || (v.rpo === 'never' && v.lastRun !== null)) {
        pending.push(rpoPayload(v, now));
      }
    }
    let n = 0;
    for (const p of pending) {
      for (const url of this.#targets(p, settings)) {
        const fresh = await store.enqueueNotification({
          dedupeKey: p.key,
          url,
          kind: p.kind,
          domainUuid: p.domainUuid,
          payload: p.payload,
          at: now,
        });
        n += fresh ? 1 : 0;
      }
    }
    // only now: a round that failed part way (the database) is read again by the next one
    this.#since = now;
    return n;
  }

  #targets(p: Pending, settings: readonly PolicySettings[]): string[] {
    const global = this.#o.events ?? [];
    const urls = new Set(global.length === 0 || global.includes(p.kind) ? this.#o.webhooks : []);
    const policy = settings.find((s) => s.name === p.policy);
    if (policy && (policy.events.length === 0 || policy.events.includes(p.kind))) {
      for (const u of policy.webhooks) {
        urls.add(u);
      }
    }
    return [...urls];
  }

  async #deliver(): Promise<{ delivered: number; failed: number }> {
    const { store } = this.#o;
    const max = this.#o.maxAttempts ?? 6;
    const claimed = await store.claimNotifications(this.#o.now(), CLAIM_BATCH, max);
    let delivered = 0;
    let failed = 0;
    for (const c of claimed) {
      const error = await post(c.url, c.payload);
      if (error === null) {
        await store.finishNotification(c, { deliveredAt: this.#o.now() });
        delivered++;
        continue;
      }
      failed++;
      const wait = (this.#o.retryBaseMs ?? 15_000) * 2 ** (c.attempts - 1);
      await store.finishNotification(c, { error, retryAt: this.#o.now() + wait });
      this.#o.log?.(`webhook ${webhookOrigin(c.url)}: ${error} (attempt ${c.attempts}/${max})`);
    }
    return { delivered, failed };
  }
}

/**
 * Notifications claimed at once: each is posted in turn with a 5 s timeout, and the batch must end
 * within the claim (2 minutes, `claim-notifications.sql`). 50 took up to 250 s against a webhook
 * that never answered, and another replica sent the rest of the batch a second time.
 */
const CLAIM_BATCH = 20;

/** Posts JSON; null on a 2xx answer, else the error in words. */
async function post(url: string, payload: unknown): Promise<string | null> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'virtvault-controller' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(5_000),
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.ok ? null : `HTTP ${res.status}`;
  } catch (e) {
    const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
    return `${e instanceof Error ? e.message : String(e)}${cause}`;
  }
}
