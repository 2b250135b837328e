import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Repository, SnapshotWriter } from '@virtvault/repo';

import { restoreSnapshot } from '../restore.js';
import { COMMIT, DOMAIN } from './test-commit.js';

const K = 1024;
const CS = 1024 * K;

describe('raw restore', () => {
  let dir = '';
  let repo: Repository;

  before(async () => {
    // on the repository's filesystem, not a tmpfs: the direct-write path is the one under test
    dir = await mkdtemp(path.join(os.tmpdir(), 'vv-restore-raw-'));
    repo = await Repository.init(path.join(dir, 'repo'), { chunkSize: CS, workers: 1 });
  });
  after(async () => {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  });

  const size = 3 * CS + 1000;

  /** A snapshot of a 4-slot raw disk; returns the disk's bytes. */
  async function writeSnapshot(id: string): Promise<Buffer> {
    const image = Buffer.alloc(size);
    randomBytes(CS).copy(image, 0);
    image.fill(0, 512 * K, 640 * K); // a hole inside a data slot
    randomBytes(64 * K).copy(image, 2 * CS + 128 * K); // a sparse slot
    randomBytes(1000).copy(image, 3 * CS); // the short, unaligned last slot
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: size, source: 's', format: 'raw' });
    for (let slot = 0; slot < 4; slot++) {
      const bytes = image.subarray(slot * CS, Math.min(size, (slot + 1) * CS));
      await w.putSlot('vda', slot, bytes);
    }
    await w.commit(COMMIT);
    return image;
  }

  it('writes only data, byte-exact, sparse, with an unaligned last slot', async () => {
    const image = await writeSnapshot('s1');
    const out = path.join(dir, 'out');
    const seen: { position: number; virtualSize: number }[] = [];
    const [disk] = await restoreSnapshot({
      repo,
      domainUuid: DOMAIN.uuid,
      snapshotId: 's1',
      outputDir: out,
      format: 'raw',
      onProgress: (p) => seen.push({ position: p.position, virtualSize: p.virtualSize }),
    });
    assert.equal(disk?.bytesWritten, CS - 128 * K + 64 * K + 1000, 'zeros are not written');
    // the progress runs through the holes too: it ends at the disk's size, not at its data
    assert.deepEqual(seen.at(-1), { position: size, virtualSize: size });
    assert.ok(seen.every((p, i) => i === 0 || p.position >= (seen[i - 1]?.position ?? 0)));
    const restored = await readFile(path.join(out, 'vda.raw'));
    assert.equal(restored.length, size);
    assert.ok(restored.equals(image), 'restored bytes equal the source');
    const st = await stat(path.join(out, 'vda.raw'));
    assert.ok(st.blocks * 512 < 2 * CS, `holes stay holes (${st.blocks * 512} bytes allocated)`);
  });

  it('stops when interrupted, between slots, and removes the disk it was writing', async () => {
    await writeSnapshot('s2');
    const interrupted = (e: unknown) => (e as { code?: unknown }).code === 'RESTORE_INTERRUPTED';
    for (const when of ['before', 'after the first slot'] as const) {
      const out = path.join(dir, `out-${when.length}`);
      const stop = new AbortController();
      if (when === 'before') {
        stop.abort(new Error('interrupted by SIGTERM'));
      }
      await assert.rejects(
        restoreSnapshot({
          repo,
          domainUuid: DOMAIN.uuid,
          snapshotId: 's2',
          outputDir: out,
          format: 'raw',
          signal: stop.signal,
          onProgress: () => stop.abort(new Error('interrupted by SIGTERM')),
        }),
        interrupted,
        when,
      );
      await assert.rejects(stat(path.join(out, 'vda.raw')), { code: 'ENOENT' }, when);
    }
  });

  it('all or nothing: a failure on the second disk removes the first and the folder it made', async () => {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's4' });
    await w.open();
    // two slots each: the stop lands between vdb's slots
    for (const target of ['vda', 'vdb']) {
      await w.startDisk({ target, virtualSize: 2 * CS, source: target, format: 'raw' });
      await w.putSlot(target, 0, randomBytes(CS));
      await w.putSlot(target, 1, randomBytes(CS));
    }
    await w.commit(COMMIT);
    const out = path.join(dir, 'out-all', 'deeper');
    const stop = new AbortController();
    await assert.rejects(
      restoreSnapshot({
        repo,
        domainUuid: DOMAIN.uuid,
        snapshotId: 's4',
        outputDir: out,
        format: 'raw',
        signal: stop.signal,
        onProgress: (p) => {
          if (p.target === 'vdb') {
            stop.abort(new Error('interrupted by SIGTERM'));
          }
        },
      }),
      { code: 'RESTORE_INTERRUPTED' },
    );
    await assert.rejects(stat(path.join(dir, 'out-all')), { code: 'ENOENT' }, 'folders removed');
    // and the same restore simply runs again
    const again = await restoreSnapshot({
      repo,
      domainUuid: DOMAIN.uuid,
      snapshotId: 's4',
      outputDir: out,
      format: 'raw',
    });
    assert.deepEqual(
      again.map((d) => d.target),
      ['vda', 'vdb'],
    );
  });

  it('names a disk only once every disk is written, never a partial one', async () => {
    await writeSnapshot('s5');
    const out = path.join(dir, 'out-names');
    const during: { final: boolean; work: string[] }[] = [];
    await restoreSnapshot({
      repo,
      domainUuid: DOMAIN.uuid,
      snapshotId: 's5',
      outputDir: out,
      format: 'raw',
      onProgress: () => {
        const names = readdirSync(out);
        during.push({
          final: names.includes('vda.raw'),
          work: names.filter((n) => n.startsWith('.restoring-')),
        });
      },
    });
    assert.ok(during.length > 0);
    assert.ok(
      during.every((d) => !d.final && d.work.length === 1),
      'written in a work folder while the restore runs',
    );
    assert.deepEqual(readdirSync(out), ['vda.raw'], 'the work folder is gone');
  });

  it('never replaces or removes a file that took the name while it wrote', async () => {
    await writeSnapshot('s6');
    const out = path.join(dir, 'out-taken');
    const theirs = path.join(out, 'vda.raw');
    await assert.rejects(
      restoreSnapshot({
        repo,
        domainUuid: DOMAIN.uuid,
        snapshotId: 's6',
        outputDir: out,
        format: 'raw',
        onProgress: () => {
          if (!existsSync(theirs)) {
            writeFileSync(theirs, 'another restore');
          }
        },
      }),
      { code: 'RESTORE_TARGET_EXISTS' },
    );
    assert.equal(readFileSync(theirs, 'utf8'), 'another restore');
    assert.deepEqual(readdirSync(out), ['vda.raw'], 'its own work folder removed');
  });

  it('checks every target before writing any, and refuses a disk the snapshot lacks', async () => {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's3' });
    await w.open();
    for (const target of ['vda', 'vdb']) {
      await w.startDisk({ target, virtualSize: CS, source: target, format: 'raw' });
      await w.putSlot(target, 0, randomBytes(CS));
    }
    await w.commit(COMMIT);
    const out = path.join(dir, 'out-two');
    const restore = (disks?: string[]) =>
      restoreSnapshot({
        repo,
        domainUuid: DOMAIN.uuid,
        snapshotId: 's3',
        outputDir: out,
        format: 'raw',
        ...(disks ? { disks } : {}),
      });
    await assert.rejects(restore(['vda', 'vdz']), (e) => {
      const x = e as { code?: string; message?: string };
      return (
        x.code === 'RESTORE_DISK_UNKNOWN' && /no disk vdz \(it has vda, vdb\)/.test(x.message ?? '')
      );
    });
    await assert.rejects(stat(out), { code: 'ENOENT' }, 'nothing created');
    // vdb's file is there already: vda is not restored either
    await restore(['vdb']);
    await assert.rejects(restore(), { code: 'RESTORE_TARGET_EXISTS' });
    await assert.rejects(stat(path.join(out, 'vda.raw')), { code: 'ENOENT' });
  });
});
