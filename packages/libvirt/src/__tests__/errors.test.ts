import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  errorCodeName,
  errorDomainName,
  isCheckpointInconsistent,
  isConnectionLost,
  isNoCheckpoint,
  isNoDomain,
  isOperationInvalid,
  isOperationTimeout,
  LibvirtError,
  toLibvirtError,
} from '../index.js';

describe('error codes', () => {
  it('names the codes the engine relies on (from libvirt-api.xml)', () => {
    assert.equal(errorCodeName(42), 'VIR_ERR_NO_DOMAIN');
    assert.equal(errorCodeName(55), 'VIR_ERR_OPERATION_INVALID');
    assert.equal(errorCodeName(68), 'VIR_ERR_OPERATION_TIMEOUT');
    assert.equal(errorCodeName(38), 'VIR_ERR_SYSTEM_ERROR');
    assert.equal(errorCodeName(103), 'VIR_ERR_NO_DOMAIN_CHECKPOINT');
    assert.equal(errorCodeName(109), 'VIR_ERR_CHECKPOINT_INCONSISTENT');
    assert.equal(errorDomainName(10), 'VIR_FROM_QEMU');
  });

  it('falls back to VIR_ERR_<n> for numbers newer than the table', () => {
    assert.equal(errorCodeName(9999), 'VIR_ERR_9999');
    assert.equal(errorDomainName(9999), 'VIR_FROM_9999');
  });
});

describe('LibvirtError', () => {
  it('maps the addon rejection shape and keeps the message', () => {
    const raw = Object.assign(
      new Error("checkpoint inconsistent: missing or broken bitmap 'cp1' for disk 'vda'"),
      {
        virCode: 109,
        virDomain: 10,
        virLevel: 2,
      },
    );
    const e = toLibvirtError(raw, 'backupBegin vm1');
    assert.ok(e instanceof LibvirtError);
    assert.equal(e.code, 'VIR_ERR_CHECKPOINT_INCONSISTENT');
    assert.equal(e.domain, 'VIR_FROM_QEMU');
    assert.equal(e.number, 109);
    assert.match(e.message, /^backupBegin vm1: checkpoint inconsistent/);
    assert.equal(e.libvirtMessage, raw.message);
    assert.ok(isCheckpointInconsistent(e));
    assert.ok(!isNoDomain(e));
  });

  it('passes foreign errors through', () => {
    const e = new TypeError('x');
    assert.equal(toLibvirtError(e), e);
    assert.ok(!isNoDomain(e));
    assert.ok(!isConnectionLost(e));
  });

  it('has a predicate per code the engine branches on', () => {
    assert.ok(isNoDomain(new LibvirtError(42, 10, 'm')));
    assert.ok(isNoCheckpoint(new LibvirtError(103, 10, 'm')));
    assert.ok(isOperationInvalid(new LibvirtError(55, 10, 'm')));
    assert.ok(isOperationTimeout(new LibvirtError(68, 10, 'm')));
    assert.ok(isConnectionLost(new LibvirtError(6, 0, 'closed')));
    assert.ok(isConnectionLost(new LibvirtError(38, 7, 'Cannot write data: Broken pipe')));
    assert.ok(!isConnectionLost(new LibvirtError(38, 10, 'qemu-img failed')));
  });
});
