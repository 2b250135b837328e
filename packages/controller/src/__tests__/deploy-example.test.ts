import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadConfig } from '../config.js';

const EXAMPLE = fileURLToPath(
  new URL('../../../../deploy/examples/controller.yaml', import.meta.url),
);

describe('deploy/examples/controller.yaml', () => {
  it('is a valid controller configuration', async () => {
    const c = await loadConfig(EXAMPLE);
    assert.deepEqual(
      c.hosts.map((h) => h.name),
      ['host-a', 'host-b'],
    );
    assert.equal(c.policies[0]?.selector.tag, 'web');
    assert.equal(c.policies[0]?.rpoHours, 26);
    assert.deepEqual(c.policies[0]?.notify?.events, ['rpo-violation', 'run-failed', 'chain-break']);
    assert.equal(c.http.listen, '0.0.0.0:8080');
  });
});
