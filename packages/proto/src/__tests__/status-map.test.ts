import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { describe, it } from 'node:test';

import { Metadata, status } from '@grpc/grpc-js';

import { ProtoError } from '../errors.js';
import { fromGrpcError, grpcStatusFor, toGrpcError, VV_CODE } from '../status-map.js';

class CodedError extends Error {
  constructor(readonly code: string) {
    super(`failed with ${code}`);
  }
}

function serviceError(code: status, details: string, vvCode?: string): Error {
  const metadata = new Metadata();
  if (vvCode !== undefined) {
    metadata.set(VV_CODE, vvCode);
  }
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

describe('proto: stable codes ⇄ gRPC status', () => {
  it('sends a refused system call as IO_ERROR, the errno kept in the message', async () => {
    const e = await mkdir('/proc/vv-never/x').catch((x: unknown) => x);
    const g = toGrpcError(e);
    assert.deepEqual(g.metadata.get(VV_CODE), ['IO_ERROR']);
    assert.match(g.details, /^IO_ERROR: ENOENT/);
    assert.equal(g.code, status.INTERNAL);
  });

  it('maps codes to statuses by kind', () => {
    const cases: [string, status][] = [
      ['DOMAIN_NOT_FOUND', status.NOT_FOUND],
      ['SNAPSHOT_NOT_FOUND', status.NOT_FOUND],
      ['BACKUP_JOB_ACTIVE', status.FAILED_PRECONDITION],
      ['ALREADY_RUNNING', status.FAILED_PRECONDITION],
      ['RESTORE_TARGET_EXISTS', status.FAILED_PRECONDITION],
      ['BAD_MESSAGE', status.INVALID_ARGUMENT],
      ['REPOSITORY_UNKNOWN', status.INVALID_ARGUMENT],
      ['CONFIG_INVALID', status.INVALID_ARGUMENT],
      ['REPO_INVALID_ID', status.INVALID_ARGUMENT],
      ['REPO_PATH_ESCAPE', status.INVALID_ARGUMENT],
      ['AGENT_BUSY', status.RESOURCE_EXHAUSTED],
      ['TLS_PEER_REFUSED', status.PERMISSION_DENIED],
      ['AGENT_SHUTTING_DOWN', status.UNAVAILABLE],
      ['QEMU_NBD_FAILED', status.INTERNAL],
    ];
    for (const [code, want] of cases) {
      assert.equal(grpcStatusFor(code), want, code);
    }
  });

  it('puts the code in the vv-code trailer; anything without a code is INTERNAL', () => {
    const e = toGrpcError(new CodedError('DOMAIN_NOT_FOUND'));
    assert.equal(e.code, status.NOT_FOUND);
    assert.deepEqual(e.metadata.get(VV_CODE), ['DOMAIN_NOT_FOUND']);
    assert.match(e.details, /DOMAIN_NOT_FOUND: failed with DOMAIN_NOT_FOUND/);
    const plain = toGrpcError(new Error('boom'));
    assert.equal(plain.code, status.INTERNAL);
    assert.deepEqual(plain.metadata.get(VV_CODE), ['INTERNAL']);
    assert.equal(toGrpcError({ code: 42 }).metadata.get(VV_CODE)[0], 'INTERNAL');
  });

  it('reads the agent code back, else maps the transport status', () => {
    const cases: [Error, boolean, string][] = [
      [serviceError(status.NOT_FOUND, 'x', 'DOMAIN_NOT_FOUND'), false, 'DOMAIN_NOT_FOUND'],
      [
        serviceError(status.UNAVAILABLE, 'No connection established. connect ECONNREFUSED'),
        false,
        'AGENT_UNAVAILABLE',
      ],
      [
        serviceError(status.UNAVAILABLE, 'Error: self-signed certificate in certificate chain'),
        false,
        'AGENT_TLS_REFUSED',
      ],
      [serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), false, 'AGENT_TIMEOUT'],
      [serviceError(status.CANCELLED, 'Cancelled on client'), true, 'AGENT_CANCELLED'],
      [serviceError(status.CANCELLED, 'Cancelled'), false, 'AGENT_UNAVAILABLE'],
      [serviceError(status.UNIMPLEMENTED, 'not implemented'), false, 'AGENT_UNIMPLEMENTED'],
      [serviceError(status.UNKNOWN, 'odd'), false, 'AGENT_ERROR'],
      [
        serviceError(status.RESOURCE_EXHAUSTED, 'Received message larger than max (9 vs. 4)'),
        false,
        'AGENT_MESSAGE_TOO_LARGE',
      ],
      [serviceError(status.RESOURCE_EXHAUSTED, 'x', 'AGENT_BUSY'), false, 'AGENT_BUSY'],
      [serviceError(status.RESOURCE_EXHAUSTED, 'Bandwidth exhausted'), false, 'AGENT_ERROR'],
    ];
    for (const [e, ours, want] of cases) {
      const p = fromGrpcError(e, ours);
      assert.ok(p instanceof ProtoError);
      assert.equal(p.code, want, e.message);
      assert.equal(p.cause, e);
    }
  });
});
