/**
 * `@virtvault/repo`: repository format v1 — content-addressed chunk store, per-disk indexes,
 * manifests, writer (with patches), reader, verify, leases, GC and prune.
 */
export { RepoError } from './errors.js';
export { makeDirsSync } from './make-dirs.js';
export { fsyncDir } from './fs-util.js';
export { mayBeBeingCreated, Repository } from './repository.js';
export { openIfPresent, openOrInit } from './open-or-init.js';
export type { RepositoryOptions, InitOptions, SnapshotRef } from './repository.js';
export { SnapshotWriter } from './writer.js';
export type { WriterOptions, DiskSpec, CommitInfo, PutPatchOptions } from './writer.js';
export type { SlotRange, PatchLimits } from './patch-writer.js';
export { readManifests } from './manifest-io.js';
export type { DamagedSnapshot, ManifestListing } from './manifest-io.js';
export { SnapshotReader } from './reader.js';
export type { DiskExtent, DiskSlot, ReadDiskOptions, ReadSlotsOptions } from './reader.js';
export { dataRuns, ZERO_GRANULE } from './data-runs.js';
export type { DataRun } from './data-runs.js';
export { verifyRepository, readVerifyResult, readVerifyResults } from './verify.js';
export { refuseQuarantined, unresolvedQuarantine } from './quarantine.js';
export type { VerifyReport, VerifyOptions, ChunkProblem, SnapshotVerifyResult } from './verify.js';
export { Lease, readLeases } from './lease.js';
export type { LeaseRecord, LeaseRequest } from './lease.js';
export {
  CHUNK_HASHES,
  DEFAULT_CHUNK_SIZE,
  PATCH_MAX_RANGES,
  ZERO_DIGEST_HEX,
} from './format/constants.js';
export type { ChunkHash } from './format/constants.js';
export { defaultChunkHash } from './format/blake3.js';
export { collectGarbage, gcIncomplete } from './gc.js';
export type { GcOptions, GcReport } from './gc.js';
export { prune, removeSnapshot } from './prune.js';
export type { PruneOptions, PruneReport } from './prune.js';
export { alignedBuffer, DIRECT_ALIGN } from './worker/arena.js';
