import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadConfig } from '../config.js';

const EXAMPLE = fileURLToPath(
  new URL('../../../../deploy/examples/controller.yaml', import.meta.url),
);
const UNIT = fileURLToPath(
  new URL('../../../../deploy/systemd/virtvault-controller.service', import.meta.url),
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

  it("leaves the systemd unit's stop timeout room for the shutdown grace", async () => {
    const c = await loadConfig(EXAMPLE);
    const unit = readFileSync(UNIT, 'utf8');
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    // the grace, then the HTTP server (2 s) and the stores: systemd must not kill before that
    assert.ok(stop >= c.timings.shutdownGraceSec + 15, `TimeoutStopSec=${stop}`);
  });
});
