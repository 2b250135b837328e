import assert from 'node:assert/strict';
import { mkdir, readFile, rename, rm, rmdir, stat, truncate, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import {
  collectGarbage,
  readVerifyResult,
  Repository,
  SnapshotWriter,
  verifyRepository,
} from '../index.js';
import { readPatch } from '../resolve.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir } from './helpers.js';

const CS = 64 * 1024;

async function flipByte(repo: Repository, digest: string, at = 100): Promise<void> {
  const p = repo.chunkPath(digest);
  const b = await readFile(p);
  const i = Math.min(at, b.length - 1);
  b.writeUInt8(b.readUInt8(i) ^ 0x01, i);
  await writeFile(p, b);
}

async function full(repo: Repository, id: string, slots: Buffer[]): Promise<void> {
  const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: slots.length * CS, source: 's', format: 'raw' });
  for (const [i, s] of slots.entries()) {
    await w.putSlot('vda', i, s);
  }
  await w.commit(commitInfo());
}

describe('tamper detection', () => {
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;
  const shared = rnd(CS);
  before(async () => {
    let dir = '';
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { chunkSize: CS, workers: 1 });
    await full(repo, 'a', [shared, rnd(CS)]);
    await full(repo, 'b', [rnd(CS), shared]);
    await full(repo, 'c', [rnd(CS), rnd(CS)]);
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'd', parent: 'c' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    await w.putPatch('vda', 0, [{ offsetInSlot: 4096, data: rnd(4096) }]);
    await w.commit(commitInfo('incremental'));
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  it('names a flipped data chunk and every snapshot that uses it, then moves it aside', async () => {
    const digest = (await repo.readIndex(DOMAIN.uuid, 'a', 'vda')).get(0);
    await flipByte(repo, digest, 5000);
    const v = await verifyRepository(repo);
    assert.equal(v.ok, false);
    assert.equal(v.chunks.length, 1);
    assert.equal(v.chunks[0]?.digest, digest);
    assert.equal(v.chunks[0]?.code, 'REPO_CHUNK_CORRUPT');
    assert.deepEqual(v.chunks[0]?.snapshots, [`${DOMAIN.uuid}/a`, `${DOMAIN.uuid}/b`]);
    assert.equal((await readVerifyResult(repo, DOMAIN.uuid, 'a'))?.status, 'failed');
    assert.equal((await readVerifyResult(repo, DOMAIN.uuid, 'c'))?.status, 'ok');
    // moved aside, kept as evidence: a reader now finds it missing rather than damaged
    assert.equal(v.chunks[0]?.quarantined, true);
    await stat(`${repo.chunkPath(digest)}.bad`);
    await assert.rejects(
      readSnapshot(repo, 'b'),
      (e) => hasErrorCode(e, 'REPO_CHUNK_MISSING') && String(e).includes(digest),
    );
  });

  it('heals the snapshots of a quarantined chunk once a backup has its bytes again', async () => {
    // the first test left the shared slot's chunk quarantined; a new full holds the same bytes
    await full(repo, 'e', [shared, rnd(CS)]);
    const v = await verifyRepository(repo, { domain: DOMAIN.uuid });
    for (const id of ['a', 'b', 'e']) {
      assert.equal(v.snapshots[`${DOMAIN.uuid}/${id}`]?.status, 'ok', id);
    }
    assert.ok(
      (await readSnapshot(repo, 'b')).subarray(CS).equals(shared),
      'b reads back its bytes',
    );
  });

  it('names a corrupt patch base and both the base snapshot and the patching one', async () => {
    const patchDigest = (await repo.readIndex(DOMAIN.uuid, 'd', 'vda')).get(0);
    const base = (await readPatch(repo, patchDigest)).base;
    assert.equal(base, (await repo.readIndex(DOMAIN.uuid, 'c', 'vda')).get(0));
    await flipByte(repo, base, 16); // first payload byte
    const v = await verifyRepository(repo);
    assert.deepEqual(
      v.chunks.map((c) => [c.digest, c.snapshots]),
      [[base, [`${DOMAIN.uuid}/c`, `${DOMAIN.uuid}/d`]]],
    );
    assert.equal((await readVerifyResult(repo, DOMAIN.uuid, 'd'))?.status, 'failed');
    await assert.rejects(
      readSnapshot(repo, 'd'),
      (e) => hasErrorCode(e, 'REPO_CHUNK_MISSING') && String(e).includes(base),
    );
  });

  it('reports a missing chunk and verifies one snapshot alone', async () => {
    const { rm } = await import('node:fs/promises');
    const digest = (await repo.readIndex(DOMAIN.uuid, 'b', 'vda')).get(0);
    await rm(repo.chunkPath(digest));
    const v = await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: 'b' });
    assert.deepEqual(Object.keys(v.snapshots), [`${DOMAIN.uuid}/b`]);
    assert.deepEqual(
      v.chunks.map((c) => [c.code, c.digest, c.quarantined]),
      [['REPO_CHUNK_MISSING', digest, false]],
    );
    await assert.rejects(
      readSnapshot(repo, 'b'),
      (e) => hasErrorCode(e, 'REPO_CHUNK_MISSING') && String(e).includes(digest),
    );
  });

  it('GC removes quarantined chunks once stored again or unused, and keeps the rest', async () => {
    const healed = repo.chunkPath((await repo.readIndex(DOMAIN.uuid, 'e', 'vda')).get(0));
    const patch = (await repo.readIndex(DOMAIN.uuid, 'd', 'vda')).get(0);
    const damaged = repo.chunkPath((await readPatch(repo, patch)).base);
    const exists = (p: string): Promise<boolean> =>
      stat(p).then(
        () => true,
        () => false,
      );
    assert.deepEqual([await exists(`${healed}.bad`), await exists(`${damaged}.bad`)], [true, true]);
    // b's chunk removed above may have been a patch whose base is live: nothing is swept while b
    // names it (a quarantined data chunk, whose header says so, does not stop the sweep)
    const missing = (await repo.readIndex(DOMAIN.uuid, 'b', 'vda')).get(0);
    const blocked = await collectGarbage(repo);
    assert.deepEqual(blocked.unreadable, [missing]);
    assert.deepEqual([blocked.swept, blocked.removedBad], [0, 0]);
    assert.equal(await exists(`${healed}.bad`), true);
    await repo.removeSnapshotDir(DOMAIN.uuid, 'b');
    const dry = await collectGarbage(repo, { dryRun: true });
    assert.deepEqual(dry.unreadable, []);
    assert.equal(dry.removedBad, 1);
    assert.equal(await exists(`${healed}.bad`), true, 'a dry run removes nothing');
    assert.equal((await collectGarbage(repo)).removedBad, 1);
    // stored whole again: the evidence is gone; still named by c and d, never healed: it stays
    assert.deepEqual(
      [await exists(`${healed}.bad`), await exists(`${damaged}.bad`)],
      [false, true],
    );
    assert.equal(await exists(healed), true);
    await repo.removeSnapshotDir(DOMAIN.uuid, 'd');
    await repo.removeSnapshotDir(DOMAIN.uuid, 'c');
    assert.equal((await collectGarbage(repo)).removedBad, 1);
    assert.equal(await exists(`${damaged}.bad`), false);
  });
  it('a chunk the system cannot read is reported unreadable and left in place', async () => {
    const digest = (await repo.readIndex(DOMAIN.uuid, 'e', 'vda')).get(0);
    const file = repo.chunkPath(digest);
    // reading a directory fails with EISDIR, as a failing disk's EIO would
    await rename(file, `${file}.aside`);
    await mkdir(file);
    try {
      const v = await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: 'e' });
      assert.deepEqual(
        v.chunks.map((c) => [c.code, c.digest, c.quarantined]),
        [['REPO_CHUNK_UNREADABLE', digest, false]],
      );
      assert.match(v.chunks[0]?.message ?? '', /EISDIR/);
      assert.equal((await stat(file)).isDirectory(), true, 'not moved aside');
    } finally {
      await rmdir(file);
      await rename(`${file}.aside`, file);
    }
    assert.equal((await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: 'e' })).ok, true);
  });
  it('a chunk file larger than any chunk is corrupt, found without reading it into memory', async () => {
    const digest = (await repo.readIndex(DOMAIN.uuid, 'a', 'vda')).get(1);
    const file = repo.chunkPath(digest);
    const saved = await readFile(file);
    await truncate(file, 80 * 1024 * 1024); // sparse: no disk space
    try {
      const v = await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: 'a' });
      assert.deepEqual(
        v.chunks.map((c) => [c.code, c.digest]),
        [['REPO_CHUNK_CORRUPT', digest]],
      );
      assert.match(v.chunks[0]?.message ?? '', /more than any chunk/);
    } finally {
      await rm(`${file}.bad`, { force: true });
      await writeFile(file, saved);
    }
    assert.equal((await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: 'a' })).ok, true);
  });
});
