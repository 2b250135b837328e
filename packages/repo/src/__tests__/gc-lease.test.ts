import assert from 'node:assert/strict';
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import {
  collectGarbage,
  Lease,
  prune,
  readLeases,
  readVerifyResult,
  Repository,
  SnapshotWriter,
  verifyRepository,
} from '../index.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir, tempRepo } from './helpers.js';

const CS = 64 * 1024;
const HOUR = 3_600_000;

describe('leases', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await (await Repository.init(dir, { chunkSize: CS })).close();
  });
  after(() => cleanup());

  it('makes GC exclusive and takes over an expired GC lease', async () => {
    let t = 1_000_000;
    const repo = new Repository(dir, { now: () => t, leaseTtlMs: 10_000 });
    await repo.open();
    const a = await Lease.acquire(repo, { kind: 'gc', host: 'h1' });
    await assert.rejects(Lease.acquire(repo, { kind: 'gc', host: 'h2' }), (e) =>
      hasErrorCode(e, 'REPO_LOCKED'),
    );
    t += 20_000; // a's holder died: its lease expired
    const b = await Lease.acquire(repo, { kind: 'gc', host: 'h2' });
    assert.equal(b.record.host, 'h2');
    assert.ok(a.lost);
    await assert.rejects(a.renew(), (e) => hasErrorCode(e, 'REPO_LEASE_LOST'));
    await a.close(); // must not remove b's lease
    assert.deepEqual(
      (await readLeases(repo)).map((l) => l.host),
      ['h2'],
    );
    await b.close();
    await b.close();
    assert.deepEqual(await readLeases(repo), []);
    await repo.close();
  });

  it('lets many writers hold leases at once and renews them', async () => {
    let t = 5_000_000;
    const repo = new Repository(dir, { now: () => t, leaseTtlMs: 10_000 });
    await repo.open();
    const ws = await Promise.all(
      [1, 2, 3].map(() => Lease.acquire(repo, { kind: 'writer', snapshot: 'x/y' })),
    );
    assert.equal((await readLeases(repo)).length, 3);
    t += 5_000;
    await ws[0]?.renew();
    assert.equal(ws[0]?.record.expiresAt, t + 10_000);
    await Promise.all(ws.map((w) => w.close()));
    await repo.close();
  });
  it('an expired writer lease is lost for good, though its file is still there to renew', async () => {
    let t = 7_000_000;
    const repo = new Repository(dir, { now: () => t, leaseTtlMs: 10_000 });
    await repo.open();
    const w = await Lease.acquire(repo, { kind: 'writer', snapshot: 'x/y' });
    t += 20_000; // the process was stopped (Ctrl-Z) past its expiry: a GC may have counted it gone
    await assert.rejects(w.renew(), (e) => hasErrorCode(e, 'REPO_LEASE_LOST'));
    assert.ok(w.lost);
    assert.equal((await readLeases(repo)).length, 1, 'the file was there to renew');
    await assert.rejects(w.renew(), (e) => hasErrorCode(e, 'REPO_LEASE_LOST'));
    assert.ok(w.lost);
    await w.close();
    await repo.close();
  });

  it('a writer whose lease file is gone (a GC elsewhere saw it expired) does not commit', async () => {
    const { repo, cleanup: done } = await tempRepo(CS);
    try {
      const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'late' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
      await w.putSlot('vda', 0, rnd(CS));
      for (const name of await readdir(repo.locksDir)) {
        await rm(path.join(repo.locksDir, name));
      }
      await assert.rejects(w.commit(commitInfo()), (e) => hasErrorCode(e, 'REPO_LEASE_LOST'));
      await w.abort();
      await w.close();
      assert.deepEqual(
        (await repo.listSnapshots()).filter((s) => s.committed),
        [],
      );
    } finally {
      await repo.close();
      await done();
    }
  });

  it('a close during a renewal waits for it: the released lease never comes back', async () => {
    const repo = new Repository(dir, { leaseTtlMs: 10_000 });
    await repo.open();
    for (let round = 0; round < 20; round++) {
      const l = await Lease.acquire(repo, { kind: 'gc', host: 'h' });
      const renewing = l.renew();
      await l.close();
      await renewing;
      assert.deepEqual(await readLeases(repo), [], `round ${round}`);
    }
    await repo.close();
  });
});

describe('GC', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;
  const opened: Repository[] = [];
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { chunkSize: CS, workers: 1 });
    opened.push(repo);
  });
  after(async () => {
    // close everything even when a test failed, or worker threads keep the process alive
    await Promise.all(opened.map((r) => r.close()));
    await cleanup();
  });

  it('removes aborted snapshots and stale temps, keeps live writers and referenced chunks', async () => {
    const kept = rnd(2 * CS);
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'kept' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    await w.putSlot('vda', 0, kept.subarray(0, CS));
    await w.putSlot('vda', 1, kept.subarray(CS));
    await w.commit(commitInfo());
    // a crashed writer: folder without manifest, its new chunk still an unpublished temp, no lease
    const crashed = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'crashed' });
    await crashed.open();
    await crashed.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
    await crashed.putSlot('vda', 0, rnd(CS));
    await rm(path.join(repo.locksDir, (await readdir(repo.locksDir))[0] ?? 'none'));
    // a stray temp file of a crashed chunk write, a minute ago: written now, it could share the
    // live lease's millisecond (its start is whole ms, mtimes are not) and count as not stale
    const stray = path.join(repo.root, 'chunks', 'ab', '.tmp-x-1-2');
    await writeFile(stray, 'partial');
    const aMinuteAgo = (Date.now() - 60_000) / 1000;
    await utimes(stray, aMinuteAgo, aMinuteAgo);
    // a live writer from "another host"
    const other = new Repository(repo.root, { leaseTtlMs: 2 * HOUR });
    await other.open();
    opened.push(other);
    const live = new SnapshotWriter(other, { domain: DOMAIN, snapshotId: 'live' });
    await live.open();
    await live.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
    const liveData = rnd(CS);
    await live.putSlot('vda', 0, liveData);
    const later = new Repository(repo.root, { now: () => Date.now() + HOUR });
    opened.push(later);
    await later.open();
    const r = await collectGarbage(later, { skewMarginMs: 0 });
    // the live lease caps the cutoff: the crashed writer's older temp goes, the live one's stays
    assert.deepEqual(r.removedSnapshots, [`${DOMAIN.uuid}/crashed`]);
    assert.equal(r.swept, 0, 'no chunk was published by either writer');
    assert.equal(r.removedTemps, 2, 'the stray temp and the crashed writer’s unpublished chunk');
    assert.equal(r.marked, 2);
    await live.commit(commitInfo());
    assert.ok(
      (await readSnapshot(repo, 'live')).equals(liveData),
      'the live writer’s temp survived',
    );
    assert.equal((await chunkNames(repo)).length, 3, 'kept (2) and live (1), nothing else');
    await crashed.close();
    await later.close();
    await other.close();
  });

  it('an aborted writer leaves no chunk and no temp behind', async () => {
    const before = await chunkNames(repo);
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'gone' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    await w.putSlot('vda', 0, rnd(CS));
    await w.putSlot('vda', 1, rnd(CS));
    await w.abort();
    assert.deepEqual(await chunkNames(repo), before);
  });

  it('revives a chunk a writer touched during the sweep window and keeps fresh chunks', async () => {
    const data = rnd(CS);
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'tmp' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
    await w.putSlot('vda', 0, data);
    await w.commit(commitInfo());
    const digest = (await repo.readIndex(DOMAIN.uuid, 'tmp', 'vda')).get(0);
    await prune(repo, { policy: { keepLast: 1 }, timeZone: 'UTC', protect: ['kept'] });
    // unreferenced now; make it look old, then a writer reuses it (touch) before GC runs
    await utimes(repo.chunkPath(digest), 1, 1);
    const w2 = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'reuse' });
    await w2.open();
    await w2.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
    await w2.putSlot('vda', 0, data);
    assert.ok((await stat(repo.chunkPath(digest))).mtimeMs > 1000, 'reuse touched the chunk');
    const gcRepo = new Repository(repo.root, { now: () => Date.now() + 1000 });
    opened.push(gcRepo);
    await gcRepo.open();
    await collectGarbage(gcRepo, { skewMarginMs: 0 });
    await w2.commit(commitInfo());
    assert.ok((await readSnapshot(repo, 'reuse')).equals(data));
    await gcRepo.close();
  });

  it('prune applies GFS and never removes a live writer’s parent', async () => {
    await mkdir(repo.locksDir, { recursive: true });
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'child', parent: 'reuse' });
    await w.open();
    // keep only the newest by time: 'reuse' would go, but the live writer starts from it
    const r = await prune(repo, {
      policy: { keepLast: 1 },
      timeZone: 'UTC',
      dryRun: true,
      protect: ['kept'],
    });
    assert.ok(
      r.inUse.includes(`${DOMAIN.uuid}/reuse`) || r.kept.some((k) => k.snapshot.endsWith('/reuse')),
    );
    assert.ok(!r.removed.includes(`${DOMAIN.uuid}/reuse`));
    await w.abort();
    const before = (await repo.listSnapshots()).filter((s) => s.committed).length;
    const r2 = await prune(repo, { policy: { keepLast: 1 }, timeZone: 'UTC' });
    assert.equal(r2.kept.length, 1);
    assert.equal(r2.removed.length, before - 1);
    assert.deepEqual(
      (await repo.listSnapshots()).filter((s) => s.committed).map((s) => s.id),
      r2.kept.map((k) => k.snapshot.split('/')[1]),
    );
  });
});

/** Every file name under `chunks/` (chunks and temps). */
async function chunkNames(repo: Repository): Promise<string[]> {
  const out: string[] = [];
  for (const hh of await readdir(path.join(repo.root, 'chunks'))) {
    out.push(...(await readdir(path.join(repo.root, 'chunks', hh))));
  }
  return out.sort();
}

describe('interrupted GC and verify', () => {
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;
  before(async () => {
    ({ repo, cleanup } = await tempRepo(CS));
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    await w.putSlot('vda', 0, rnd(CS));
    await w.putSlot('vda', 1, rnd(CS));
    await w.commit(commitInfo());
  });
  after(() => cleanup());

  const interrupted = (e: unknown) => hasErrorCode(e, 'REPO_INTERRUPTED');
  const stopped = (): AbortSignal => AbortSignal.abort(new Error('interrupted by SIGTERM'));

  it('a GC stopped by its signal fails REPO_INTERRUPTED and releases its lease', async () => {
    await assert.rejects(collectGarbage(repo, { signal: stopped() }), interrupted);
    assert.deepEqual(await readLeases(repo), []);
    const r = await collectGarbage(repo);
    assert.equal(r.marked, 2);
  });

  it('a verify stopped by its signal fails REPO_INTERRUPTED and records nothing', async () => {
    await assert.rejects(verifyRepository(repo, { signal: stopped() }), interrupted);
    assert.equal(await readVerifyResult(repo, DOMAIN.uuid, 's1'), null);
    // stopped once it has begun: the same, and the repository still verifies afterwards
    const stop = new AbortController();
    const checking = verifyRepository(repo, { signal: stop.signal, concurrency: 1 });
    stop.abort(new Error('interrupted by SIGTERM'));
    await assert.rejects(checking, interrupted);
    assert.equal(await readVerifyResult(repo, DOMAIN.uuid, 's1'), null);
    assert.equal((await verifyRepository(repo)).ok, true);
  });
});
