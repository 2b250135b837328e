import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';

import type { DomainLineage } from '@virtvault/core';

import { PlanHintFiles } from '../plan-hints.js';

const UUID = '0ef20682-d8e5-474c-83fb-3e610b619f8a';

function lineage(repository: string, snapshotIds: string[], checkpoints: string[]): DomainLineage {
  return {
    repository,
    domain: { uuid: UUID, name: 'web1', currentHost: 'a' },
    snapshots: snapshotIds.map((id, i) => ({
      id,
      level: i === 0 ? 'full' : 'incremental',
      host: 'a',
      checkpoint: `vv-${id}`,
      parent: i === 0 ? null : (snapshotIds[i - 1] ?? null),
      status: 'committed',
      verify: 'unverified',
      disks: [{ target: 'vda', source: '/img/web1.qcow2', format: 'qcow2', virtualSize: 1 << 30 }],
      startedAt: 1000 * i,
      endedAt: 1000 * i + 500,
    })),
    checkpoints: checkpoints.map((name) => ({
      name,
      repository,
      host: 'a',
      createdAt: 0,
      xml: `<domaincheckpoint><name>${name}</name></domaincheckpoint>`,
      disks: [{ target: 'vda', bitmap: name }],
      state: 'live',
      stateReason: null,
    })),
  };
}

describe('plan hint files', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vv-hints-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('give back the lineage saved for a repository, and an empty one for a new repository', async () => {
    const hints = new PlanHintFiles(dir, Promise.resolve());
    assert.equal(await hints.load('/r1', UUID), null, 'nothing saved yet');
    const one = lineage('/r1', ['S1', 'S2'], ['vv-S1', 'vv-S2']);
    await hints.save(one);
    assert.deepEqual(await hints.load('/r1', UUID), one);
    const other = await hints.load('/r2', UUID);
    assert.deepEqual(other?.snapshots, []);
    assert.deepEqual(other?.checkpoints, one.checkpoints, 'checkpoints are the domain’s');
    // a second repository keeps the first one's snapshots
    const two = lineage('/r2', ['T1'], ['vv-S1', 'vv-S2', 'vv-T1']);
    await hints.save(two);
    assert.deepEqual(await hints.load('/r2', UUID), two);
    assert.deepEqual((await hints.load('/r1', UUID))?.snapshots, one.snapshots);
    assert.deepEqual((await hints.load('/r1', UUID))?.checkpoints, two.checkpoints);
    assert.deepEqual(await readdir(path.join(dir, 'hints')), [`${UUID}.json`]);
  });

  it("keep the lineage's owner tag", async () => {
    const hints = new PlanHintFiles(dir, Promise.resolve());
    const owned = { ...lineage('/r1', ['S1'], ['vv-0123abcd-S1']), owner: '0123abcd' };
    await hints.save(owned);
    assert.deepEqual(await hints.load('/r1', UUID), owned);
    assert.equal((await hints.load('/r2', UUID))?.owner, '0123abcd');
  });

  it('give nothing for a torn file, another domain, or without the state lock', async () => {
    const hints = new PlanHintFiles(dir, Promise.resolve());
    await hints.save(lineage('/r1', ['S1'], ['vv-S1']));
    const file = path.join(dir, 'hints', `${UUID}.json`);
    await writeFile(file, '{"version":2,"domain":');
    assert.equal(await hints.load('/r1', UUID), null);
    await hints.save(lineage('/r1', ['S1'], ['vv-S1']));
    assert.equal(await hints.load('/r1', '11111111-2222-3333-4444-555555555555'), null);
    assert.equal(await hints.load('/r1', '../../etc/passwd'), null);
    const unlocked = new PlanHintFiles(dir, Promise.reject(new Error('STATE_LOCKED')));
    assert.equal(await unlocked.load('/r1', UUID), null);
  });
});
