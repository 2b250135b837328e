import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { RepositorySet } from '../repositories.js';

describe('RepositorySet', () => {
  it('two agents creating one shared repository at once both end up in the same one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vv-reposet-'));
    const root = path.join(dir, 'repo');
    const sets = [0, 1, 2].map(
      () => new RepositorySet([{ name: 'main', path: root, create: true }]),
    );
    try {
      const lists = await Promise.all(
        sets.map((s) => s.listManifests('main', '6f1c1f9e-0000-4000-8000-000000000001')),
      );
      assert.deepEqual(lists, [[], [], []]);
      const config = JSON.parse(await readFile(path.join(root, 'config.json'), 'utf8')) as {
        id: string;
      };
      assert.match(config.id, /^[0-9a-f-]{36}$/);
    } finally {
      await Promise.all(sets.map((s) => s.close()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
