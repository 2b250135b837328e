import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EngineError, interruptedOr } from '../errors.js';

describe('interruptedOr', () => {
  const nbdAborted = Object.assign(new Error('NBD_ERR_ABORTED: aborted'), {
    code: 'NBD_ERR_ABORTED',
  });

  it('names a failure of a run its caller stopped BACKUP_INTERRUPTED, keeping the cause', () => {
    const signal = AbortSignal.abort(new Error('interrupted by SIGTERM'));
    const e = interruptedOr(signal, nbdAborted);
    assert.ok(e instanceof EngineError);
    assert.equal(e.code, 'BACKUP_INTERRUPTED');
    assert.equal(e.message, 'backup interrupted: interrupted by SIGTERM');
    assert.equal(e.cause, nbdAborted);
    assert.equal(interruptedOr(signal, e), e, 'not wrapped twice');
  });

  it('leaves the failure of a run nobody stopped as it is', () => {
    assert.equal(interruptedOr(undefined, nbdAborted), nbdAborted);
    assert.equal(interruptedOr(new AbortController().signal, nbdAborted), nbdAborted);
  });
});
