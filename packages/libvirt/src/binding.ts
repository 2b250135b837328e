/**
 * The only module that loads the native addon. Everything here is untyped at runtime; the facade
 * (`connection.ts`, `domain.ts`, …) is the typed API.
 */
import { createRequire } from 'node:module';

/** Opaque handle of a native connection. */
export interface ConnHandle {
  readonly __brand: 'ConnHandle';
}

/** Opaque handle of a native domain reference. */
export interface DomHandle {
  readonly __brand: 'DomHandle';
}

/** What listing, lookups, define and create return per domain. */
export interface NativeDomainInfo {
  handle: DomHandle;
  name: string;
  uuid: string;
  /** Hypervisor id, -1 when inactive. */
  id: number;
  state: number;
  reason: number;
  persistent: boolean;
  active: boolean;
}

/** A checkpoint's name and its parent's name (absent for a root). */
export interface NativeCheckpointInfo {
  name: string;
  parent?: string;
}

/** Typed parameters (job stats) by name. */
export type NativeParams = Record<string, number | boolean | string>;

/** Events as the addon delivers them, before decoding in `events.ts`. */
export type NativeEvent =
  | { type: 'close'; reason: number }
  | { type: 'lifecycle'; domainName: string; domainUuid: string; event: number; detail: number }
  | { type: 'job-completed'; domainName: string; domainUuid: string; stats: NativeParams }
  | {
      type: 'block-job';
      domainName: string;
      domainUuid: string;
      disk: string;
      jobType: number;
      status: number;
    };

/** The addon's thread pool, for tests and diagnostics. */
export interface NativePoolStats {
  threads: number;
  idle: number;
  queued: number;
  pending: number;
}

/** Every native function; all but poolStats run on the addon's own threads and return promises. */
export interface NativeBinding {
  open(
    uri: string | null,
    readOnly: boolean,
    onEvent: (e: NativeEvent) => void,
  ): Promise<ConnHandle>;
  close(conn: ConnHandle): Promise<void>;
  setKeepAlive(conn: ConnHandle, intervalSec: number, count: number): Promise<number>;
  isAlive(conn: ConnHandle): Promise<boolean>;
  getUri(conn: ConnHandle): Promise<string>;
  getLibVersion(conn: ConnHandle): Promise<number>;
  listAllDomains(conn: ConnHandle, flags: number): Promise<NativeDomainInfo[]>;
  lookupByName(conn: ConnHandle, name: string): Promise<NativeDomainInfo>;
  lookupByUuid(conn: ConnHandle, uuid: string): Promise<NativeDomainInfo>;
  defineXml(conn: ConnHandle, xml: string, flags: number): Promise<NativeDomainInfo>;
  createXml(conn: ConnHandle, xml: string, flags: number): Promise<NativeDomainInfo>;
  domainStart(dom: DomHandle, flags: number): Promise<void>;
  domainDestroy(dom: DomHandle, flags: number): Promise<void>;
  domainShutdown(dom: DomHandle, flags: number): Promise<void>;
  domainUndefine(dom: DomHandle, flags: number): Promise<void>;
  domainAbortJob(dom: DomHandle, flags: number): Promise<void>;
  domainInfo(dom: DomHandle): Promise<NativeDomainInfo>;
  domainGetXml(dom: DomHandle, flags: number): Promise<string>;
  domainJobStats(dom: DomHandle, flags: number): Promise<{ type: number; stats: NativeParams }>;
  domainBackupBegin(
    dom: DomHandle,
    backupXml: string,
    checkpointXml: string | null,
    flags: number,
  ): Promise<void>;
  domainBackupGetXml(dom: DomHandle, flags: number): Promise<string>;
  domainFsFreeze(dom: DomHandle, mountpoints: string[], flags: number): Promise<number>;
  domainFsThaw(dom: DomHandle, mountpoints: string[], flags: number): Promise<number>;
  domainAgentSetResponseTimeout(dom: DomHandle, seconds: number, flags: number): Promise<void>;
  domainQemuMonitorCommand(dom: DomHandle, command: string, flags: number): Promise<string>;
  checkpointCreate(dom: DomHandle, xml: string, flags: number): Promise<NativeCheckpointInfo>;
  checkpointList(dom: DomHandle, flags: number): Promise<NativeCheckpointInfo[]>;
  checkpointLookup(dom: DomHandle, name: string): Promise<NativeCheckpointInfo>;
  checkpointGetXml(dom: DomHandle, name: string, flags: number): Promise<string>;
  checkpointDelete(dom: DomHandle, name: string, flags: number): Promise<void>;
  poolStats(): NativePoolStats;
}

/** The loaded addon (built by `node-gyp rebuild`, i.e. `npm ci` / `npm run install`). */
export const native = createRequire(import.meta.url)(
  '../build/Release/virtvault_libvirt.node',
) as NativeBinding;
