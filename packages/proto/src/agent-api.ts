/**
 * The agent API in core types: the contract the controller codes against and `AgentClient`
 * implements over gRPC. Every method rejects with `ProtoError` whose `code` is the agent's stable
 * code (from the `vv-code` trailer or the stream's `Failure` message, e.g. `DOMAIN_NOT_FOUND`,
 * `INCREMENTAL_REJECTED`, `BACKUP_JOB_ACTIVE`, `REPOSITORY_UNKNOWN`) or, for transport failures,
 * `AGENT_UNAVAILABLE` (cannot connect, connection lost), `AGENT_TIMEOUT` (deadline),
 * `AGENT_CANCELLED` (our signal) or `AGENT_TLS_REFUSED` (handshake or identity refused).
 */
import type {
  AgentEventInfo,
  BackupRequest,
  BitmapRemoval,
  HostInfo,
  InventoryDomain,
  ObservedDomain,
  RedefineAction,
  SnapshotManifest,
  VerifyState,
} from '@virtvault/core';

/**
 * What RunBackup needs: core's `BackupRequest` minus the heartbeat function (the agent's stream
 * carries heartbeats instead) and minus `proceed` (an attempt started before its plan was
 * confirmed: the wire has no way to hold the agent's commit until then), plus the run id of the
 * controller's lineage. `repository` is a repository name from the agent's configuration.
 */
export type AgentBackupRequest = Omit<BackupRequest, 'heartbeat' | 'proceed'> & {
  /** Run id in the controller's lineage. */
  runId: string;
};

/** A restore on the agent's host. */
export interface AgentRestoreRequest {
  /** Repository name. */
  repository: string;
  /** Domain UUID. */
  domainUuid: string;
  /** Snapshot id. */
  snapshotId: string;
  /** Directory on the agent's host. */
  outputDir: string;
  /** Output format. */
  format: 'qcow2' | 'raw';
  /** Only these disk targets (all when absent). */
  disks?: string[];
  /** Define a new domain with the restored disks under this name. */
  defineName?: string;
}

/** What a restore produced. */
export interface AgentRestoreResult {
  /** Restored disks. */
  disks: { target: string; path: string; format: string; virtualSize: number }[];
  /** UUID of the defined domain, or null. */
  definedUuid: string | null;
}

/** GFS retention applied by the agent. */
export interface AgentPruneRequest {
  /** Repository name. */
  repository: string;
  /** Only this domain (every domain when absent). */
  domainUuid?: string;
  /** Keep the last N. */
  keepLast: number;
  /** Keep one per day for N days. */
  keepDaily: number;
  /** Keep one per week for N weeks. */
  keepWeekly: number;
  /** Keep one per month for N months. */
  keepMonthly: number;
  /** IANA time zone of the periods (UTC when absent). */
  timeZone?: string;
  /** Snapshot ids always kept. */
  protect?: string[];
  /** Decide and report only. */
  dryRun?: boolean;
}

/** What prune kept and removed (`<domain-uuid>/<snapshot-id>`). */
export interface AgentPruneResult {
  /** Kept. */
  kept: string[];
  /** Removed (or to remove, in a dry run). */
  removed: string[];
  /** Selected but kept because a running writer starts from it. */
  inUse: string[];
  /** Left alone: their manifest cannot be read (none from an agent older than this field). */
  damaged: string[];
}

/** What GC did. */
export interface AgentGcResult {
  /** Reachable chunks. */
  marked: number;
  /** Chunks removed. */
  swept: number;
  /** Bytes removed. */
  sweptBytes: number;
  /** Aborted snapshot folders removed. */
  removedSnapshots: string[];
  /** Quarantined (`.bad`) chunks removed; 0 from an agent older than this field. */
  removedBad: number;
}

/** Options of a unary call. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Deadline from now, ms. */
  deadlineMs?: number;
}

/** Options of a streaming call. */
export interface StreamOptions extends CallOptions {
  /** Progress per disk. */
  onProgress?: (p: { target: string; bytesRead: number; bytesToRead: number }) => void;
  /** The agent's heartbeat (epoch ms). */
  onHeartbeat?: (atMs: number) => void;
}

/** The agent API. */
export interface AgentApi {
  /** Who and what the agent is. */
  hostInfo(o?: CallOptions): Promise<HostInfo>;
  /** Every domain of the host. */
  listDomains(o?: CallOptions): Promise<InventoryDomain[]>;
  /** The planner's view of one domain (name or UUID). */
  observe(domain: string, o?: CallOptions): Promise<ObservedDomain>;
  /** Committed manifests of one domain in one repository. */
  listManifests(
    repository: string,
    domainUuid: string,
    o?: CallOptions,
  ): Promise<SnapshotManifest[]>;
  /**
   * Verify results recorded in one repository for one domain's snapshots, by snapshot id (never
   * verified: absent). An agent older than this method fails it with `AGENT_UNIMPLEMENTED`.
   */
  listVerifyResults(
    repository: string,
    domainUuid: string,
    o?: CallOptions,
  ): Promise<Map<string, VerifyState>>;
  /** Redefines one checkpoint. */
  redefineCheckpoint(domainUuid: string, action: RedefineAction, o?: CallOptions): Promise<void>;
  /** Deletes libvirt's metadata of one checkpoint. */
  deleteCheckpointMetadata(domainUuid: string, checkpoint: string, o?: CallOptions): Promise<void>;
  /** Removes one bitmap from one disk. */
  removeBitmap(
    domainUuid: string,
    disk: string,
    bitmap: string,
    via: BitmapRemoval,
    o?: CallOptions,
  ): Promise<void>;
  /** Runs one backup; resolves with the committed manifest. Aborting cancels; the agent cleans up. */
  runBackup(req: AgentBackupRequest, o?: StreamOptions): Promise<SnapshotManifest>;
  /** Restores one snapshot on the agent's host. */
  restore(req: AgentRestoreRequest, o?: StreamOptions): Promise<AgentRestoreResult>;
  /** Applies retention. */
  prune(req: AgentPruneRequest, o?: CallOptions): Promise<AgentPruneResult>;
  /** Collects garbage in one repository. */
  collectGarbage(repository: string, dryRun: boolean, o?: CallOptions): Promise<AgentGcResult>;
  /** Events until the signal aborts; throws `AGENT_UNAVAILABLE` when the connection drops. */
  watchEvents(signal: AbortSignal): AsyncIterable<AgentEventInfo>;
  /** Closes the channel. */
  close(): void;
}

/** How to reach one agent over mTLS (grpc-js connects lazily, on the first call). */
export interface AgentClientOptions {
  /** `host:port`. */
  address: string;
  /** The agent's certificate must name this host (SAN DNS, else CN), else `AGENT_TLS_REFUSED`. */
  expectedHostName: string;
  /** CA certificate (PEM). */
  ca: Buffer;
  /** The controller's client certificate (PEM). */
  cert: Buffer;
  /** Its key (PEM). */
  key: Buffer;
}
