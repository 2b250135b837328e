/**
 * A libvirt connection: open any URI, keepalive, events, domain listing, lookup, define and create.
 */
import { native, type ConnHandle, type NativeEvent, type NativePoolStats } from './binding.js';
import { Domain } from './domain.js';
import { call, LibvirtError } from './errors.js';
import { decodeEvent, type CloseEvent, type LibvirtEvent } from './events.js';

/** Options of {@link Connection.connect}. */
export interface ConnectOptions {
  /** Open read-only (VIR_CONNECT_RO). @default false */
  readOnly?: boolean;
  /**
   * Keepalive probes: the connection is closed (close event, reason `keepalive`) after `count`
   * unanswered probes sent every `intervalSec`. `false` leaves libvirt's default. @default {5, 3}
   */
  keepAlive?: { intervalSec: number; count: number } | false;
  /**
   * How long the open may take: a daemon that accepts on its socket but never answers (stopped,
   * deadlocked) held `virConnectOpen`, and every caller waiting on the connection, forever.
   * Then `VIR_ERR_OPERATION_TIMEOUT`; a connection opened later is closed. @default 30000
   */
  timeoutMs?: number;
}

/** VIR_ERR_OPERATION_TIMEOUT, VIR_FROM_RPC. */
const OPERATION_TIMEOUT = 68;
const FROM_RPC = 7;

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** One connection to a libvirt daemon (or a local driver such as `test:///default`). */
export class Connection {
  /** The URI this connection was opened with. */
  readonly uri: string;
  private readonly handle: ConnHandle;
  private readonly listeners = new Set<(e: LibvirtEvent) => void>();
  private closing: Promise<void> | undefined;
  private lost: CloseEvent | undefined;

  private constructor(uri: string, handle: ConnHandle, bus: EventBus) {
    this.uri = uri;
    this.handle = handle;
    bus.target = (e) => this.dispatch(e);
  }

  /**
   * Opens `uri` (`qemu:///system`, `qemu:///system?socket=…`, `qemu+ssh://…`, `test:///default`).
   * Never prompts for credentials: an URI that needs them fails with a LibvirtError.
   */
  static async connect(uri: string, options: ConnectOptions = {}): Promise<Connection> {
    const bus: EventBus = { target: undefined, early: [] };
    const onEvent = (e: NativeEvent): void => {
      // events can arrive before the constructor ran: queue them until it does
      const decoded = decodeEvent(e);
      if (bus.target) {
        bus.target(decoded);
      } else {
        bus.early.push(decoded);
      }
    };
    const handle = await withDeadline(
      call(`connect ${uri}`, () => native.open(uri, options.readOnly ?? false, onEvent)),
      options.timeoutMs ?? 30_000,
      `connect ${uri}`,
      (late) => native.close(late),
    );
    const conn = new Connection(uri, handle, bus);
    bus.early.forEach((e) => conn.dispatch(e));
    const ka = options.keepAlive ?? { intervalSec: 5, count: 3 };
    if (ka !== false && !uri.startsWith('test:')) {
      // a connection failing here is closed, not left open until garbage collection
      await conn.setKeepAlive(ka.intervalSec, ka.count).catch(async (e: unknown) => {
        await conn.close().catch(() => undefined);
        throw e;
      });
    }
    return conn;
  }

  /** Statistics of the addon's own thread pool (shared by all connections). */
  static poolStats(): NativePoolStats {
    return native.poolStats();
  }

  /** Subscribes to this connection's events; returns the unsubscribe function. */
  subscribe(listener: (e: LibvirtEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Set once the daemon closed the connection (EOF, keepalive, error): reconnect with `connect()`. */
  get lostReason(): CloseEvent['reason'] | undefined {
    return this.lost?.reason;
  }

  /** True after close() or once the daemon went away. */
  get closed(): boolean {
    return this.closing !== undefined || this.lost !== undefined;
  }

  /** Closes the connection; idempotent and safe after the daemon went away. */
  close(): Promise<void> {
    this.closing ??= call('close', () => native.close(this.handle)).then(() =>
      this.listeners.clear(),
    );
    return this.closing;
  }

  /** virConnectIsAlive. */
  async isAlive(): Promise<boolean> {
    return call('isAlive', () => native.isAlive(this.handle));
  }

  /** libvirt library version as `major.minor.release`. */
  async libVersion(): Promise<string> {
    const v = await call('libVersion', () => native.getLibVersion(this.handle));
    return `${Math.floor(v / 1e6)}.${Math.floor(v / 1e3) % 1e3}.${v % 1e3}`;
  }

  /** The canonical URI libvirt reports. */
  async canonicalUri(): Promise<string> {
    return call('getURI', () => native.getUri(this.handle));
  }

  /** virConnectSetKeepAlive; false when the peer does not support keepalive. */
  async setKeepAlive(intervalSec: number, count: number): Promise<boolean> {
    return (
      (await call('setKeepAlive', () => native.setKeepAlive(this.handle, intervalSec, count))) === 0
    );
  }

  /** All domains (active and inactive) with their state; `flags` filter (ListDomainsFlags). */
  async listDomains(flags = 0): Promise<Domain[]> {
    const list = await call('listAllDomains', () => native.listAllDomains(this.handle, flags));
    return list.map((d) => new Domain(d));
  }

  /** Looks up a domain by name; rejects with VIR_ERR_NO_DOMAIN if absent. */
  async lookupByName(name: string): Promise<Domain> {
    return new Domain(await call(`lookup ${name}`, () => native.lookupByName(this.handle, name)));
  }

  /** Looks up a domain by UUID; rejects with VIR_ERR_NO_DOMAIN if absent. */
  async lookupByUuid(uuid: string): Promise<Domain> {
    return new Domain(await call(`lookup ${uuid}`, () => native.lookupByUuid(this.handle, uuid)));
  }

  /** Looks up by UUID when the argument is one, else by name. */
  async lookupDomain(nameOrUuid: string): Promise<Domain> {
    return UUID_RE.test(nameOrUuid) ? this.lookupByUuid(nameOrUuid) : this.lookupByName(nameOrUuid);
  }

  /** Defines (or redefines) a persistent domain from XML (virDomainDefineXMLFlags). */
  async defineDomain(xml: string, flags = 0): Promise<Domain> {
    return new Domain(await call('defineXML', () => native.defineXml(this.handle, xml, flags)));
  }

  /** Creates and starts a transient domain from XML (virDomainCreateXML). */
  async createDomain(xml: string, flags = 0): Promise<Domain> {
    return new Domain(await call('createXML', () => native.createXml(this.handle, xml, flags)));
  }

  private dispatch(e: LibvirtEvent): void {
    if (e.type === 'close') {
      this.lost = e;
    }
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        // a throwing listener must not break delivery to the others, nor crash the event thread
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

interface EventBus {
  target: ((e: LibvirtEvent) => void) | undefined;
  early: LibvirtEvent[];
}

/**
 * `p`, or `VIR_ERR_OPERATION_TIMEOUT` after `ms`; what `p` yields after that is handed to `drop`
 * (the native call cannot be abandoned, only its result).
 */
async function withDeadline<T>(
  p: Promise<T>,
  ms: number,
  operation: string,
  drop: (late: T) => Promise<unknown>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      const why = `no answer from the daemon within ${ms / 1000} s`;
      reject(new LibvirtError(OPERATION_TIMEOUT, FROM_RPC, why, operation));
    }, ms);
  });
  void p.then(
    (late) => (expired ? drop(late).catch(() => undefined) : undefined),
    () => undefined,
  );
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
