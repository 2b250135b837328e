/**
 * Errors across the wire. The agent maps anything thrown with a stable string `code` to a gRPC
 * status plus the `vv-code` trailer ({@link toGrpcError}); the client maps a failed call back to a
 * `ProtoError` with that code, or to a transport code ({@link fromGrpcError}).
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

import { stableErrorCode } from '@virtvault/core';

import { ProtoError } from './errors.js';

/** Trailing metadata key carrying the stable error code. */
export const VV_CODE = 'vv-code';

/** Codes that are about the state of the domain, repository or agent, not about the request. */
const STATE_CODES = new Set([
  'ALREADY_RUNNING',
  'BACKUP_JOB_ACTIVE',
  'INCREMENTAL_REJECTED',
  'PARENT_UNREADABLE',
  'DOMAIN_STARTED_DURING_BACKUP',
  'DOMAIN_NOT_RUNNING',
  'CHECKPOINT_CREATE_FAILED',
  'BITMAPS_UNSUPPORTED',
  'DISK_UNSUPPORTED',
  'WRONG_HOST',
  'SCRATCH_NO_SPACE',
  'DISK_IN_USE',
]);

/** The stable code of anything thrown (see core's `stableErrorCode`: errnos are `IO_ERROR`). */
export function errorCodeOf(e: unknown): string {
  return stableErrorCode(e);
}

/** The gRPC status for a stable code. */
export function grpcStatusFor(code: string): status {
  if (code.endsWith('_NOT_FOUND')) {
    return status.NOT_FOUND;
  }
  if (code === 'AGENT_BUSY') {
    return status.RESOURCE_EXHAUSTED;
  }
  if (code === 'TLS_PEER_REFUSED' || code === 'OUTPUT_DIR_REFUSED') {
    return status.PERMISSION_DENIED;
  }
  if (code === 'AGENT_SHUTTING_DOWN') {
    return status.UNAVAILABLE;
  }
  if (STATE_CODES.has(code) || /_(ACTIVE|EXISTS|LOCKED|BUSY)$/.test(code)) {
    return status.FAILED_PRECONDITION;
  }
  // a malformed id or a path leaving the repository is the request's fault, not the server's
  if (
    /^BAD_|_INVALID$|_INVALID_ID$|_UNKNOWN$|^USAGE$|PATH_ESCAPE$/.test(code) ||
    code === 'REPO_BAD_ARGUMENT'
  ) {
    return status.INVALID_ARGUMENT;
  }
  return status.INTERNAL;
}

/** What a server handler passes to its callback (or `call.emit('error', …)`). */
export interface GrpcErrorObject {
  /** gRPC status. */
  code: status;
  /** Message for the client. */
  details: string;
  /** Trailers with `vv-code`. */
  metadata: Metadata;
}

/** Maps anything thrown to a gRPC status with the `vv-code` trailer. */
export function toGrpcError(e: unknown): GrpcErrorObject {
  const code = errorCodeOf(e);
  const metadata = new Metadata();
  metadata.set(VV_CODE, code);
  const message = e instanceof Error ? e.message : String(e);
  return { code: grpcStatusFor(code), details: `${code}: ${message}`, metadata };
}

/** True for a gRPC `ServiceError` (a failed call as grpc-js reports it). */
export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && 'code' in e && typeof e.code === 'number' && 'metadata' in e;
}

// handshake failures surface as UNAVAILABLE; these words tell them from a host that is down
const TLS_WORDS =
  /certificate|ssl|tls|handshake|self[- ]signed|unable to verify|alert|identity|altnames/i;

// grpc-js: "Received message larger than max (N vs. M)", "… decompresses to a size larger than M"
const TOO_LARGE_WORDS = /larger than/i;

function transportCode(e: ServiceError, cancelledByUs: boolean): string {
  switch (e.code) {
    case status.UNAVAILABLE:
      return TLS_WORDS.test(e.details) ? 'AGENT_TLS_REFUSED' : 'AGENT_UNAVAILABLE';
    case status.DEADLINE_EXCEEDED:
      return 'AGENT_TIMEOUT';
    case status.UNIMPLEMENTED:
      return 'AGENT_UNIMPLEMENTED';
    case status.CANCELLED:
      return cancelledByUs ? 'AGENT_CANCELLED' : 'AGENT_UNAVAILABLE';
    case status.RESOURCE_EXHAUSTED:
      // grpc-js's size limits (the agent's own RESOURCE_EXHAUSTED, AGENT_BUSY, carries vv-code)
      return TOO_LARGE_WORDS.test(e.details) ? 'AGENT_MESSAGE_TOO_LARGE' : 'AGENT_ERROR';
    default:
      return 'AGENT_ERROR';
  }
}

/**
 * Maps a failed call to a `ProtoError`: the agent's `vv-code` when it sent one, else a transport
 * code (`AGENT_UNAVAILABLE`, `AGENT_TIMEOUT`, `AGENT_CANCELLED` when `cancelledByUs`,
 * `AGENT_TLS_REFUSED`, `AGENT_MESSAGE_TOO_LARGE`, `AGENT_ERROR`).
 */
export function fromGrpcError(e: unknown, cancelledByUs: boolean): ProtoError {
  if (e instanceof ProtoError) {
    return e;
  }
  if (!isServiceError(e)) {
    const message = e instanceof Error ? e.message : String(e);
    return new ProtoError(cancelledByUs ? 'AGENT_CANCELLED' : 'AGENT_ERROR', message, { cause: e });
  }
  const sent = e.metadata?.get(VV_CODE)[0];
  const code =
    typeof sent === 'string' && sent !== '' && !(cancelledByUs && e.code === status.CANCELLED)
      ? sent
      : transportCode(e, cancelledByUs);
  const message =
    code === 'AGENT_MESSAGE_TOO_LARGE'
      ? `a message between the controller and the agent exceeded gRPC's size limit: ${e.details}`
      : e.details || e.message;
  return new ProtoError(code, message, { cause: e });
}
