import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AgentCaps } from '../agent-caps.js';

describe('AgentCaps: a host takes no more backups at once than its agent', () => {
  it('caps a host at its agent limit, on every poll, while the agent takes fewer', () => {
    const caps = new AgentCaps();
    assert.equal(caps.learn('b', 4, 2), 2);
    assert.equal(caps.learn('b', 4, 2), 2, 'again: a configuration change may have reset it');
    assert.equal(caps.effective('b', 4), 2);
    assert.equal(caps.capOf('b'), 2);
    assert.equal(caps.effective('a', 4), 4, 'another host is not capped');
  });

  it('gives the configured limit back once when the agent takes as many or more', () => {
    const caps = new AgentCaps();
    caps.learn('b', 4, 1);
    assert.equal(caps.learn('b', 4, 8), 4);
    assert.equal(caps.learn('b', 4, 8), null, 'then leaves it alone');
    assert.equal(caps.effective('b', 4), 4);
    assert.equal(caps.capOf('b'), null);
  });

  it('ignores an agent that does not say its limit (0)', () => {
    const caps = new AgentCaps();
    assert.equal(caps.learn('b', 4, 0), null);
    assert.equal(caps.effective('b', 4), 4);
  });
});
