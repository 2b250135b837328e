import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CoreError, coerceError, hasErrorCode, stableErrorCode } from '../errors.js';

describe('CoreError', () => {
  it('carries a stable code and the cause', () => {
    const cause = new Error('underlying');
    const e = new CoreError('ALREADY_RUNNING', 'a backup is running', { cause });
    assert.equal(e.code, 'ALREADY_RUNNING');
    assert.equal(e.cause, cause);
    assert.equal(e.name, 'CoreError');
    assert.ok(hasErrorCode(e, 'ALREADY_RUNNING'));
    assert.ok(!hasErrorCode(e, 'OTHER'));
    assert.ok(!hasErrorCode('ALREADY_RUNNING', 'ALREADY_RUNNING'));
  });

  it('coerces anything thrown into an Error', () => {
    assert.equal(coerceError('boom').message, 'boom');
    assert.equal(coerceError({ a: 1 }).message, '{"a":1}');
    const e = new Error('x');
    assert.equal(coerceError(e), e);
  });
});

describe('stableErrorCode', () => {
  it('keeps our codes, calls a system call errno IO_ERROR, and anything else INTERNAL', () => {
    assert.equal(stableErrorCode(new CoreError('ALREADY_RUNNING', 'x')), 'ALREADY_RUNNING');
    const errno = Object.assign(new Error("EACCES: permission denied, mkdir '/x'"), {
      code: 'EACCES',
      syscall: 'mkdir',
    });
    assert.equal(stableErrorCode(errno), 'IO_ERROR');
    assert.equal(stableErrorCode(new Error('plain')), 'INTERNAL');
    assert.equal(stableErrorCode('a string'), 'INTERNAL');
    assert.equal(stableErrorCode({ code: 7 }), 'INTERNAL');
  });

  it("says libvirt's codes in our words where we have them, else as libvirt does", () => {
    const libvirt = (code: string) => Object.assign(new Error('x'), { name: 'LibvirtError', code });
    assert.equal(stableErrorCode(libvirt('VIR_ERR_NO_DOMAIN')), 'DOMAIN_NOT_FOUND');
    assert.equal(stableErrorCode(libvirt('VIR_ERR_NO_DOMAIN_CHECKPOINT')), 'CHECKPOINT_NOT_FOUND');
    assert.equal(
      stableErrorCode(libvirt('VIR_ERR_OPERATION_TIMEOUT')),
      'VIR_ERR_OPERATION_TIMEOUT',
    );
  });
});
