/**
 * Inventory: polls every enabled host's agent (`hostInfo`, `listDomains`) and follows each
 * agent's event stream, keeping hosts' state and `domains.current_host` true. A host change is a
 * migration record (`FleetStore.recordInventory`).
 */
import type { InventoryDomain } from '@virtvault/core';
import type { DomainMove, FleetHost, FleetStore, InventoryEntry } from '@virtvault/lineage';

import type { AgentPool } from './agents.js';
import { messageOf } from './errors.js';

/** Settings of the inventory. */
export interface InventoryOptions {
  /** Poll period. */
  intervalMs: number;
  /** Deadline of each agent call. */
  callTimeoutMs: number;
  /** First reconnect delay of an event stream; doubles up to 30 s. @default 1000 */
  reconnectMs?: number;
  /** Time. */
  now: () => number;
  /** Log. */
  log: (line: string) => void;
  /**
   * Called after each successful poll of a host with its agent's own backup limit (0 when the
   * agent does not say); a failure is logged.
   */
  onAgentLimit?: (host: FleetHost, agentLimit: number) => Promise<void>;
}

/** Event kinds after which a host's domain list is refreshed at once. */
const REFRESH_ON = new Set(['defined', 'undefined', 'migrated-in', 'migrated-out', 'started']);

function toEntry(d: InventoryDomain): InventoryEntry {
  return { uuid: d.uuid, name: d.name, state: d.state, transient: d.transient, tags: d.tags };
}

/** The fleet inventory of one controller replica. */
export class Inventory {
  #timer: NodeJS.Timeout | undefined;
  /** Event watchers by host name, with the address each follows. */
  readonly #watchers = new Map<string, { ac: AbortController; address: string | null }>();
  #stopped = false;

  /**
   * @param fleet hosts and domains
   * @param agents the agent pool
   * @param o timings
   */
  constructor(
    private readonly fleet: FleetStore,
    private readonly agents: AgentPool,
    private readonly o: InventoryOptions,
  ) {}

  /** Starts polling and watching (the first poll runs now, in the background). */
  start(): void {
    this.#timer = setInterval(() => this.#poll(), this.o.intervalMs);
    this.#poll();
  }

  /** One timed poll; its failure (the database down) is logged, and the next poll tries again. */
  #poll(): void {
    this.refreshAll().catch((e: unknown) => this.o.log(`inventory poll failed: ${messageOf(e)}`));
  }

  /** Polls one host; records its state and domains. Returns the domains, or null when down. */
  async refreshHost(h: FleetHost, detectedBy = 'inventory'): Promise<InventoryEntry[] | null> {
    const at = this.o.now();
    try {
      const agent = this.agents.get(h);
      const call = { deadlineMs: this.o.callTimeoutMs };
      const [info, domains] = await Promise.all([agent.hostInfo(call), agent.listDomains(call)]);
      const entries = domains.map(toEntry);
      const moves = await this.fleet.recordInventory(h.name, entries, at, detectedBy);
      this.logMoves(moves);
      await this.fleet.setHostStatus({
        name: h.name,
        state: 'up',
        agentVersion: info.agentVersion,
        error: null,
        at,
      });
      await this.o.onAgentLimit?.(h, info.maxConcurrentBackups).catch((e: unknown) => {
        this.o.log(`host ${h.name}: its agent's backup limit not applied: ${messageOf(e)}`);
      });
      return entries;
    } catch (e) {
      const error = messageOf(e);
      await this.fleet
        .setHostStatus({ name: h.name, state: 'down', agentVersion: null, error, at })
        .catch(() => undefined);
      return null;
    }
  }

  private logMoves(moves: readonly DomainMove[]): void {
    for (const m of moves) {
      this.o.log(`domain ${m.domainUuid} moved from ${m.from ?? '?'} to ${m.to}`);
    }
  }

  /**
   * Polls every enabled host with an address, in parallel; (re)starts event watchers, and stops
   * those of hosts removed, disabled or readdressed meanwhile (on any replica).
   */
  async refreshAll(detectedBy = 'inventory'): Promise<void> {
    if (this.#stopped) {
      return;
    }
    const hosts = (await this.fleet.listHosts()).filter((h) => h.enabled && h.address !== null);
    const current = new Map(hosts.map((h) => [h.name, h.address]));
    for (const [name, w] of this.#watchers) {
      if (current.get(name) !== w.address) {
        this.forget(name);
      }
    }
    await Promise.all(hosts.map((h) => this.refreshHost(h, detectedBy)));
    for (const h of hosts) {
      if (!this.#watchers.has(h.name) && !this.#stopped) {
        this.watch(h);
      }
    }
  }

  /**
   * Finds a domain on any enabled host but `except` (a fresh listing of each). Records what it
   * saw, so a move is recorded. Returns the host (null when none lists it) and the hosts that
   * could not be asked: a domain none of the others lists may still be on one of those.
   */
  async locate(
    domainUuid: string,
    except: string,
  ): Promise<{ host: string | null; unreached: string[] }> {
    const hosts = (await this.fleet.listHosts()).filter(
      (h) => h.enabled && h.address !== null && h.name !== except,
    );
    const listed = await Promise.all(hosts.map((h) => this.refreshHost(h, 'dispatcher')));
    const found = hosts.find((_h, i) => listed[i]?.some((d) => d.uuid === domainUuid) === true);
    const unreached = hosts.filter((_h, i) => listed[i] === null).map((h) => h.name);
    return { host: found?.name ?? null, unreached };
  }

  /** Follows one host's events, reconnecting with backoff until stopped or the host is gone. */
  private watch(h: FleetHost): void {
    const ac = new AbortController();
    this.#watchers.set(h.name, { ac, address: h.address });
    void (async () => {
      let delay = this.o.reconnectMs ?? 1000;
      while (!ac.signal.aborted) {
        try {
          for await (const ev of this.agents.get(h).watchEvents(ac.signal)) {
            delay = this.o.reconnectMs ?? 1000;
            if (REFRESH_ON.has(ev.kind)) {
              await this.refreshHost(h, 'events');
            }
          }
        } catch (e) {
          if (!ac.signal.aborted) {
            this.o.log(`events of ${h.name}: ${messageOf(e)}; reconnecting in ${delay} ms`);
          }
        }
        await sleep(delay, ac.signal);
        delay = Math.min(delay * 2, 30_000);
      }
    })();
  }

  /** Stops a host's watcher (host removed). */
  forget(name: string): void {
    this.#watchers.get(name)?.ac.abort();
    this.#watchers.delete(name);
  }

  /** Stops polling and every watcher. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const w of this.#watchers.values()) {
      w.ac.abort();
    }
    this.#watchers.clear();
  }
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind either way. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
