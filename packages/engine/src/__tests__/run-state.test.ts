import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runState } from '../hypervisor.js';

describe('runState: what the planner takes libvirt state for', () => {
  it('running and paused as libvirt says', () => {
    assert.equal(runState('running', true), 'running');
    assert.equal(runState('blocked', true), 'running');
    assert.equal(runState('paused', true), 'paused');
    assert.equal(runState('pmsuspended', true), 'paused');
    assert.equal(runState('shutoff', false), 'shut-off');
  });

  it('never shut off while QEMU runs (a crash kept by on_crash=preserve, a guest powering down)', () => {
    for (const s of ['crashed', 'shutdown', 'nostate'] as const) {
      assert.equal(runState(s, true), 'paused', s);
      assert.equal(runState(s, false), 'shut-off', s);
    }
  });
});
