import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { canLockImages } from '../image-lock.js';

describe('image-lock addon', () => {
  it('was built by the install: raw images of stopped domains can be held against a start', () => {
    assert.equal(canLockImages(), true);
  });
});
