import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadConfig } from '../config.js';

const EXAMPLE = fileURLToPath(new URL('../../../../deploy/examples/agent.yaml', import.meta.url));

describe('deploy/examples/agent.yaml', () => {
  it('is a valid agent configuration', async () => {
    const c = await loadConfig(EXAMPLE, 'fallback-host');
    assert.ok(c.hostName.length > 0);
    assert.ok(c.listenPort > 0);
    assert.ok(c.repositories.length > 0);
  });
});
