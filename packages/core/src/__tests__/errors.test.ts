import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CoreError, coerceError, hasErrorCode } from '../errors.js';

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
