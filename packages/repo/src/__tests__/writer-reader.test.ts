import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { hasErrorCode } from '@virtvault/core';

import { createFileAtomic } from '../fs-util.js';
import { mayBeBeingCreated, Repository, SnapshotReader, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir } from './helpers.js';

const CS = 64 * 1024;

describe('writer and reader', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { chunkSize: CS, workers: 2 });
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  it('writes a full snapshot from concurrent producers and reads it back byte-exact', async () => {
    const size = CS * 10 + 1000; // short last slot
    const disk = rnd(size);
    disk.fill(0, CS * 3, CS * 5); // two zero slots
    disk.copy(disk, CS * 6, CS * 0, CS); // a duplicate slot
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'full-1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: size, source: '/d.qcow2', format: 'qcow2' });
    const put = (i: number) =>
      w.putSlot('vda', i, disk.subarray(i * CS, Math.min(size, (i + 1) * CS)));
    // the duplicate goes last: two workers storing the same content at the same moment may both
    // find it absent and both write it (harmless, idempotent), which would blur the count below
    await Promise.all(
      Array.from({ length: 11 }, (_, i) => i)
        .filter((i) => i !== 6)
        .map(put),
    );
    await put(6);
    const m = await w.commit(commitInfo());
    assert.equal(m.disks[0]?.bytesRead, size);
    assert.ok((m.disks[0]?.bytesNew ?? 0) < size - 2 * CS, 'zeros and the duplicate are not new');
    const back = await readSnapshot(repo, 'full-1');
    assert.ok(back.equals(disk));
    const r = new SnapshotReader(repo, DOMAIN.uuid, 'full-1');
    await r.open();
    const holes = [];
    for await (const e of r.readDisk('vda')) {
      if (e.zero) {
        holes.push([e.offset, e.length]);
      }
    }
    assert.deepEqual(holes, [[CS * 3, CS * 2]]);
    await r.close();
  });

  it('stores compressible chunks with zstd and random ones raw (codec in the header)', async () => {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'codec-1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    await w.putSlot('vda', 0, Buffer.alloc(CS, 'abcdefgh'));
    await w.putSlot('vda', 1, rnd(CS));
    await w.commit(commitInfo());
    const idx = await repo.readIndex(DOMAIN.uuid, 'codec-1', 'vda');
    const f0 = await readFile(repo.chunkPath(idx.get(0)));
    const f1 = await readFile(repo.chunkPath(idx.get(1)));
    assert.equal(f0[6], 1, 'zstd');
    assert.ok(f0.length < CS / 10);
    assert.equal(f1[6], 0, 'raw');
    assert.equal(f1.length, CS + 16);
  });

  it('starts an incremental from the parent index and carries untouched slots', async () => {
    const base = await readSnapshot(repo, 'full-1');
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'inc-1', parent: 'full-1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: base.length, source: 's', format: 'qcow2' });
    const slot2 = rnd(CS);
    await w.putSlot('vda', 2, slot2);
    await w.putZero('vda', 7);
    await w.commit(commitInfo('incremental'));
    slot2.copy(base, 2 * CS);
    base.fill(0, 7 * CS, 8 * CS);
    assert.ok((await readSnapshot(repo, 'inc-1')).equals(base));
    assert.deepEqual((await readdir(repo.snapshotDir(DOMAIN.uuid, 'inc-1'))).sort(), [
      'manifest.json',
      'vda.index',
    ]);
  });

  it('aborts: the folder disappears and the snapshot is invisible', async () => {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'aborted-1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
    await w.putSlot('vda', 0, rnd(CS));
    await w.abort();
    await w.close();
    const ids = (await repo.listSnapshots(DOMAIN.uuid)).map((s) => s.id);
    assert.ok(!ids.includes('aborted-1'));
    const r = new SnapshotReader(repo, DOMAIN.uuid, 'aborted-1');
    await assert.rejects(r.open(), (e) => hasErrorCode(e, 'REPO_SNAPSHOT_NOT_FOUND'));
  });

  it('a commit that fails while publishing chunks leaves no temp behind after the abort', async () => {
    const temps = async (): Promise<string[]> =>
      (await readdir(path.join(dir, 'chunks'), { recursive: true })).filter((f) =>
        path.basename(f).startsWith('.tmp-'),
      );
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'publish-fails' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 8 * CS, source: 's', format: 'raw' });
    for (let i = 0; i < 8; i++) {
      await w.putSlot('vda', i, rnd(CS));
    }
    const before = await temps();
    assert.equal(before.length, 8, 'eight new chunks wait as temps');
    // one temp vanishes (a stray cleaner, a failing disk): its rename fails the commit
    await rm(path.join(dir, 'chunks', before[0] as string));
    await assert.rejects(w.commit(commitInfo()));
    await w.abort();
    await w.close();
    assert.deepEqual(await temps(), [], 'the abort removed the temps not yet renamed');
    const ids = (await repo.listSnapshots(DOMAIN.uuid)).map((s) => s.id);
    assert.ok(!ids.includes('publish-fails'));
  });

  it('validates ids, slots and lengths', async () => {
    assert.throws(
      () => new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: '../x' }),
      (e) => hasErrorCode(e, 'REPO_INVALID_ID'),
    );
    assert.throws(
      () => new SnapshotWriter(repo, { domain: { uuid: '../../etc', name: 'x' } }),
      (e) => hasErrorCode(e, 'REPO_INVALID_ID'),
    );
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'val-1' });
    await w.open();
    await assert.rejects(
      w.startDisk({ target: '../vda', virtualSize: CS, source: 's', format: 'raw' }),
      (e) => hasErrorCode(e, 'REPO_INVALID_ID'),
    );
    await w.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
    await assert.rejects(w.putSlot('vda', 1, rnd(CS)), (e) => hasErrorCode(e, 'REPO_BAD_ARGUMENT'));
    await assert.rejects(w.putSlot('vda', 0, rnd(10)), (e) => hasErrorCode(e, 'REPO_BAD_ARGUMENT'));
    await assert.rejects(
      new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'val-1' }).open(),
      (e) => hasErrorCode(e, 'REPO_SNAPSHOT_EXISTS'),
    );
    await w.close();
    await assert.rejects(
      new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'x2', parent: 'nope' }).open(),
      (e) => hasErrorCode(e, 'REPO_PARENT_MISSING'),
    );
    // nothing of the failed writer is left: no folder, so the id opens again
    assert.ok(!(await repo.listSnapshots(DOMAIN.uuid)).some((r) => r.id === 'x2'));
    const again = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'x2' });
    await again.open();
    await again.close();
  });

  it('refuses other formats and newer versions', async () => {
    const { dir: d2, cleanup: c2 } = await tempDir();
    try {
      await writeFile(
        path.join(d2, 'config.json'),
        JSON.stringify({ format: 'virtvault-repository', version: 2 }),
      );
      await assert.rejects(
        new Repository(d2).open(),
        (e) => hasErrorCode(e, 'REPO_FORMAT_UNSUPPORTED') && /version 2/.test(String(e)),
      );
      await writeFile(path.join(d2, 'config.json'), JSON.stringify({ format: 'restic' }));
      await assert.rejects(new Repository(d2).open(), (e) =>
        hasErrorCode(e, 'REPO_FORMAT_UNSUPPORTED'),
      );
      await assert.rejects(new Repository(path.join(d2, 'none')).open(), (e) =>
        hasErrorCode(e, 'REPO_NOT_FOUND'),
      );
      // a path under a file: named by the repository, not by errno alone
      const under = path.join(d2, 'config.json', 'repo');
      await assert.rejects(
        new Repository(under).open(),
        (e) => hasErrorCode(e, 'REPO_UNREADABLE') && String(e).includes(under),
      );
      await assert.rejects(Repository.init(dir), (e) => hasErrorCode(e, 'REPO_EXISTS'));
    } finally {
      await c2();
    }
  });
});

describe('creating a repository', () => {
  it('never shows a half-written config.json, and of two creators exactly one wins', async () => {
    for (let round = 0; round < 20; round++) {
      const { dir, cleanup } = await tempDir();
      try {
        const root = path.join(dir, 'repo');
        const seen = new Set<string>();
        let done = false;
        // another host opening the repository while it is created
        const reader = (async () => {
          while (!done) {
            const r = new Repository(root);
            seen.add(
              await r.open().then(
                () => 'open',
                (e: { code?: string }) => e.code ?? '?',
              ),
            );
            await r.close();
          }
        })();
        const creators = await Promise.allSettled([Repository.init(root), Repository.init(root)]);
        done = true;
        await reader;
        const won = creators.filter((c) => c.status === 'fulfilled');
        assert.equal(won.length, 1, 'one creator wins');
        const lost = creators.find((c) => c.status === 'rejected');
        assert.ok(lost !== undefined && hasErrorCode(lost.reason, 'REPO_EXISTS'));
        await Promise.all(won.map((c) => c.value.close()));
        const odd = [...seen].filter((c) => c !== 'open' && c !== 'REPO_NOT_FOUND');
        assert.deepEqual(odd, [], 'a reader saw only no repository or the whole one');
      } finally {
        await cleanup();
      }
    }
  });
});

describe('a folder being created', () => {
  it("holds only the layout folders and config.json's temp; anything else is foreign", () => {
    assert.equal(mayBeBeingCreated([]), true);
    assert.equal(mayBeBeingCreated(['chunks', 'locks', '.tmp-config.json-9-ab12']), true);
    assert.equal(mayBeBeingCreated(['chunks', 'notes.txt']), false);
    assert.equal(mayBeBeingCreated(['.tmp-index-1-2']), false);
  });
});

describe('creating a file atomically', () => {
  it('falls back to an exclusive create where the filesystem has no hard links', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const noLinks = (): Promise<void> =>
        Promise.reject(
          Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' }),
        );
      const target = path.join(dir, 'config.json');
      assert.equal(await createFileAtomic(target, 'one\n', noLinks), true);
      assert.equal(await createFileAtomic(target, 'two\n', noLinks), false, 'the second loses');
      assert.equal(await readFile(target, 'utf8'), 'one\n');
      assert.deepEqual(await readdir(dir), ['config.json'], 'no temp left behind');
      const broken = (): Promise<void> =>
        Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
      await assert.rejects(createFileAtomic(path.join(dir, 'other'), 'x', broken), /EIO/);
      assert.deepEqual(await readdir(dir), ['config.json'], 'a failure leaves nothing either');
    } finally {
      await cleanup();
    }
  });
});

describe('default 4 MiB chunk size', () => {
  it('round-trips a 9 MiB disk with real-size slots', async () => {
    const { dir, cleanup } = await tempDir();
    const repo = await Repository.init(dir);
    try {
      assert.equal(repo.config.chunkSize, 4 * 1024 * 1024);
      const size = 9 * 1024 * 1024;
      const disk = rnd(size);
      const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'big' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: size, source: 's', format: 'raw' });
      for (let i = 0; i < 3; i++) {
        await w.putSlot(
          'vda',
          i,
          disk.subarray(i * 4 * 1024 * 1024, Math.min(size, (i + 1) * 4 * 1024 * 1024)),
        );
      }
      await w.commit(commitInfo());
      assert.ok((await readSnapshot(repo, 'big')).equals(disk));
    } finally {
      await repo.close();
      await cleanup();
    }
  });
});

describe('writers sharing one chunk pool', () => {
  it('two backups filling packs on two disks each never leave staged jobs without a region', async () => {
    const { dir, cleanup } = await tempDir();
    // one worker: two staging regions, the fewest a pool has
    const repo = await Repository.init(dir, { chunkSize: CS, workers: 1 });
    try {
      const base = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'base' });
      await base.open();
      for (const target of ['vda', 'vdb']) {
        await base.startDisk({ target, virtualSize: 4 * CS, source: 's', format: 'raw' });
        await base.putSlot(target, 0, rnd(CS));
      }
      await base.commit(commitInfo());
      const patched: string[] = [];
      const flow = async (id: string): Promise<void> => {
        const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id, parent: 'base' });
        await w.open();
        for (const target of ['vda', 'vdb']) {
          const disk = { target, virtualSize: 4 * CS, source: 's', format: 'raw' };
          await w.startDisk({ ...disk, fromParent: true });
        }
        // a pack holds a staging region from its first patch on
        await w.putPatch('vda', 0, [{ offsetInSlot: 4096, data: rnd(4096) }]);
        patched.push(id);
        // as two agent jobs interleave: both packs open before either stores a whole slot
        for (let t = 0; t < 40 && patched.length < 2; t++) {
          await sleep(5);
        }
        await w.putSlot('vdb', 1, rnd(CS)); // a plain buffer: staged
        await w.commit(commitInfo('incremental'));
      };
      const done = Promise.all([flow('inc-a'), flow('inc-b')]);
      const stuck = sleep(20_000).then(() => 'stuck');
      assert.notEqual(await Promise.race([done, stuck]), 'stuck', 'the writers waited forever');
      for (const id of ['inc-a', 'inc-b']) {
        assert.equal((await readSnapshot(repo, id, 'vdb')).length, 4 * CS);
      }
    } finally {
      await repo.close();
      await cleanup();
    }
  });
});
