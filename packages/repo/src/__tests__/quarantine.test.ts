/**
 * A partial verify (one snapshot, one domain) sets a corrupt chunk aside and marks only the
 * snapshots it checked. A later snapshot of the same chain still names the chunk: a backup built
 * on it would carry the missing chunk on, and every new snapshot would report success and none
 * restore. The writer refuses such a parent (`REPO_CHUNK_QUARANTINED`, which the engine turns into
 * a full) until a backup stores the bytes again.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import {
  collectGarbage,
  removeSnapshot,
  Repository,
  SnapshotWriter,
  unresolvedQuarantine,
  verifyRepository,
} from '../index.js';
import { commitInfo, DOMAIN, rnd, tempDir } from './helpers.js';

const CS = 64 * 1024;

describe('chunks verify set aside', () => {
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;
  const kept = rnd(CS);

  /** A snapshot `id` on `parent` (a full without one) storing `slots` whole and `patch` on slot 0. */
  async function snapshot(
    id: string,
    parent: string | null,
    slots: Map<number, Buffer>,
    patch = false,
  ): Promise<void> {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id, parent });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    for (const [i, s] of slots) {
      await w.putSlot('vda', i, s);
    }
    if (patch) {
      await w.putPatch('vda', 0, [{ offsetInSlot: 4096, data: rnd(4096) }]);
    }
    await w.commit(commitInfo(parent === null ? 'full' : 'incremental'));
  }

  /** Opens a writer on `parent` as a backup does; resolves when the parent is accepted. */
  async function buildOn(parent: string): Promise<void> {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: `on-${parent}`, parent });
    await w.open();
    try {
      await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    } finally {
      await w.abort();
      await w.close();
    }
  }

  before(async () => {
    let dir = '';
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { chunkSize: CS, workers: 1 });
    await snapshot(
      'full',
      null,
      new Map([
        [0, kept],
        [1, rnd(CS)],
      ]),
    );
    // slot 0 inherited whole by the chain, and patched over by a branch of it
    await snapshot('inc', 'full', new Map([[1, rnd(CS)]]));
    await snapshot('patched', 'inc', new Map(), true);
    await snapshot(
      'other',
      null,
      new Map([
        [0, rnd(CS)],
        [1, rnd(CS)],
      ]),
    );
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  it('refuses a parent verify never checked that reaches the chunk, directly or through a patch', async () => {
    const digest = (await repo.readIndex(DOMAIN.uuid, 'full', 'vda')).get(0);
    const file = repo.chunkPath(digest);
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(5000) ^ 1, 5000);
    await writeFile(file, bytes);
    const v = await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: 'full' });
    assert.equal(v.chunks[0]?.quarantined, true);
    assert.deepEqual([...(await unresolvedQuarantine(repo.root))], [digest]);
    for (const parent of ['inc', 'patched']) {
      await assert.rejects(
        buildOn(parent),
        (e) => hasErrorCode(e, 'REPO_CHUNK_QUARANTINED') && String(e).includes(digest),
        parent,
      );
    }
    await buildOn('other');
  });

  it('accepts them again once a backup has stored the bytes, and drops the marker', async () => {
    await snapshot(
      'again',
      null,
      new Map([
        [0, kept],
        [1, rnd(CS)],
      ]),
    );
    assert.equal((await unresolvedQuarantine(repo.root)).size, 0);
    assert.deepEqual(await readdir(path.join(repo.root, 'quarantine')), []);
    await buildOn('inc');
    await buildOn('patched');
  });

  it('marks a chunk verify finds missing the same way', async () => {
    const digest = (await repo.readIndex(DOMAIN.uuid, 'other', 'vda')).get(0);
    await rm(repo.chunkPath(digest));
    const v = await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: 'other' });
    assert.equal(v.chunks[0]?.code, 'REPO_CHUNK_MISSING');
    assert.ok((await unresolvedQuarantine(repo.root)).has(digest));
    await assert.rejects(buildOn('other'), (e) => hasErrorCode(e, 'REPO_CHUNK_QUARANTINED'));
  });

  it('GC drops a marker once no snapshot reaches its chunk, and not one verify just left', async () => {
    const digest = (await repo.readIndex(DOMAIN.uuid, 'other', 'vda')).get(0);
    const marker = path.join(repo.root, 'quarantine', digest);
    await collectGarbage(repo);
    assert.ok((await unresolvedQuarantine(repo.root)).has(digest), 'still named by "other"');
    await removeSnapshot(repo, DOMAIN.uuid, 'other');
    await collectGarbage(repo);
    assert.ok((await unresolvedQuarantine(repo.root)).has(digest), 'younger than the cutoff');
    const old = new Date(Date.now() - 3_600_000);
    await utimes(marker, old, old);
    await collectGarbage(repo);
    assert.deepEqual(await readdir(path.join(repo.root, 'quarantine')), []);
  });
});
