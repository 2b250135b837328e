import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { readVerifyResults, type Repository, SnapshotWriter, verifyRepository } from '../index.js';
import { commitInfo, DOMAIN, rnd, tempRepo } from './helpers.js';

const CS = 64 * 1024;
const IDS = ['a', 'b', 'c', 'd', 'e'];

async function full(repo: Repository, id: string): Promise<void> {
  const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
  await w.putSlot('vda', 0, rnd(CS));
  await w.commit(commitInfo());
}

describe('readVerifyResults with a damaged verify.json', () => {
  let repo: Repository;
  let cleanup: () => Promise<void> = () => Promise.resolve();
  const file = (id: string): string => path.join(repo.snapshotDir(DOMAIN.uuid, id), 'verify.json');

  before(async () => {
    ({ repo, cleanup } = await tempRepo(CS));
    for (const id of IDS) {
      await full(repo, id);
    }
    assert.ok((await verifyRepository(repo)).ok);
  });

  after(() => cleanup());

  it("skips the damaged one as never verified and still returns the others' results", async () => {
    await writeFile(file('b'), '{"format":"virtvault-verify","stat\0\0\0 garbage');
    await writeFile(file('c'), 'null');
    const newer = JSON.parse(await readFile(file('d'), 'utf8')) as Record<string, unknown>;
    await writeFile(file('d'), JSON.stringify({ ...newer, status: 'quarantined' }));
    assert.deepEqual(
      await readVerifyResults(repo, DOMAIN.uuid),
      new Map([
        ['a', 'ok'],
        ['e', 'ok'],
      ]),
    );
  });
});
