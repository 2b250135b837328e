import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { Repository, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir } from './helpers.js';

const MiB = 1024 * 1024;
const CS = 4 * MiB;

/** Every file under `chunks/`, split into published chunks and temps. */
async function chunkFiles(root: string): Promise<{ named: string[]; temps: string[] }> {
  const all: string[] = [];
  for (const hh of await readdir(path.join(root, 'chunks'))) {
    all.push(...(await readdir(path.join(root, 'chunks', hh))));
  }
  return {
    named: all.filter((n) => !n.startsWith('.')),
    temps: all.filter((n) => n.startsWith('.tmp-')),
  };
}

describe('4 MiB slots: lent buffers, O_DIRECT chunk files, publishing at commit', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { workers: 2 });
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  it('stores slots filled in lent buffers (and plain ones past the lent regions) byte-exact', async () => {
    const slots = 12; // more than the pool lends at once: the rest get plain buffers
    const disk = Buffer.alloc(slots * CS);
    for (let i = 0; i < slots; i++) {
      // random, half random and half zeros, or text: raw, compressed, compressed
      const kind = i % 3;
      const at = i * CS;
      if (kind === 0) {
        rnd(CS).copy(disk, at);
      } else if (kind === 1) {
        rnd(CS / 2).copy(disk, at + CS / 2);
      } else {
        disk.fill(`slot ${i} says hello; `, at, at + CS);
      }
    }
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'lent' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: disk.length, source: 's', format: 'raw' });
    const bufs = Array.from({ length: slots }, () => w.takeBuffer(CS));
    bufs.forEach((b, i) => disk.copy(b, 0, i * CS, (i + 1) * CS));
    await Promise.all(bufs.map((b, i) => w.putSlot('vda', i, b)));
    bufs.forEach((b) => w.giveBuffer(b));
    const pending = await chunkFiles(repo.root);
    assert.deepEqual(pending.named, [], 'no chunk is named before the commit');
    assert.equal(pending.temps.length, slots, 'each new chunk waits as a temp');
    await w.commit(commitInfo());
    const published = await chunkFiles(repo.root);
    assert.equal(published.named.length, slots);
    assert.deepEqual(published.temps, []);
    assert.ok((await readSnapshot(repo, 'lent')).equals(disk));
    const idx = await repo.readIndex(DOMAIN.uuid, 'lent', 'vda');
    for (let i = 0; i < 3; i++) {
      const file = await readFile(repo.chunkPath(idx.get(i)));
      if (i === 0) {
        assert.equal(file[6], 0, 'random: raw (sampled, not compressed)');
        assert.equal(file.length, CS + 16, 'written in whole blocks, then cut to its length');
      } else {
        assert.equal(file[6], 1, `slot ${i}: zstd`);
        assert.ok(file.length < CS / 2 + 4096, `slot ${i} compressed`);
      }
    }
  });

  it('a lent buffer can be refilled and stored again once given back', async () => {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'reuse' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    const a = rnd(CS);
    const b = rnd(CS);
    for (const [slot, data] of [a, b].entries()) {
      const buf = w.takeBuffer(CS);
      data.copy(buf);
      await w.putSlot('vda', slot, buf);
      w.giveBuffer(buf);
    }
    await w.commit(commitInfo());
    assert.ok((await readSnapshot(repo, 'reuse')).equals(Buffer.concat([a, b])));
  });
});

describe('a chunk write that fails', () => {
  it('is REPO_NO_SPACE and leaves no temp behind, on the O_DIRECT and the buffered path', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await (await Repository.init(dir)).close();
      // a real failing write: the file size limit makes the kernel refuse it (EFBIG), which
      // node's ignored SIGXFSZ turns into an error instead of a kill
      const proc = fileURLToPath(new URL('./fixtures/full-disk-proc.js', import.meta.url));
      const { stdout } = await promisify(execFile)('bash', [
        '-c',
        'ulimit -f 256 && exec "$0" "$@"',
        process.execPath,
        proc,
        dir,
      ]);
      const { codes } = JSON.parse(stdout) as { codes: (string | null)[] };
      assert.deepEqual(codes, ['REPO_NO_SPACE', 'REPO_NO_SPACE'], 'both writes failed, said so');
      const files = await chunkFiles(dir);
      assert.deepEqual(files, { named: [], temps: [] }, 'nothing left under chunks/');
      const domainDir = path.join(dir, 'snapshots', DOMAIN.uuid);
      assert.deepEqual(await readdir(domainDir), [], 'no snapshot folder left');
    } finally {
      await cleanup();
    }
  });
});

describe('chunk pool', () => {
  it('settles every job when closed while jobs wait for a staging region', async () => {
    const { dir, cleanup } = await tempDir();
    const repo = await Repository.init(dir, { workers: 1 });
    try {
      const pool = repo.pool();
      // one worker: two staging regions, so most of these wait for one when the pool closes
      const jobs = Array.from({ length: 8 }, () => pool.run(0, rnd(CS), Date.now(), true));
      const all = Promise.allSettled(jobs);
      await pool.close();
      const settled = await all;
      const refused = settled.filter((r) => r.status === 'rejected');
      assert.ok(refused.length > 0, 'jobs not yet started are refused');
      for (const r of refused) {
        assert.equal((r.reason as { code?: string }).code, 'REPO_CLOSED');
      }
    } finally {
      await repo.close();
      await cleanup();
    }
  });

  it('renames in the workers: every pair in order, and a failed part rejects naming the file', async () => {
    const { dir, cleanup } = await tempDir();
    const repo = await Repository.init(dir, { workers: 2 });
    try {
      const pool = repo.pool();
      const names = Array.from({ length: 7 }, (_, i) => path.join(dir, `f${i}`));
      await Promise.all(names.map((n, i) => writeFile(n, `file ${i}`)));
      await pool.rename(names.map((n) => [n, `${n}.moved`]));
      for (const [i, n] of names.entries()) {
        assert.equal(await readFile(`${n}.moved`, 'utf8'), `file ${i}`);
      }
      const missing = path.join(dir, 'missing');
      const pairs: [string, string][] = [
        [`${names[0]}.moved`, `${names[0]}.again`],
        [missing, `${missing}.moved`],
        [`${names[1]}.moved`, `${names[1]}.again`],
      ];
      await assert.rejects(pool.rename(pairs), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'REPO_WORKER_FAILED');
        assert.match(e.message, /ENOENT.*missing/);
        return true;
      });
      // the parts are [0, 1] and [2]: the first renamed its pair before failing, the second ran
      assert.equal(await readFile(`${names[0]}.again`, 'utf8'), 'file 0');
      assert.equal(await readFile(`${names[1]}.again`, 'utf8'), 'file 1');
    } finally {
      await repo.close();
      await cleanup();
    }
  });
});
