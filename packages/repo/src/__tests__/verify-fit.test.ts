/**
 * Verify proves what a restore needs, not only that each chunk's bytes match its name: a sound
 * chunk named where it cannot fit (a data chunk or patch of another length than its slot, a patch
 * over a patch or over a base of another length, a range reading a patch or past the end of its
 * chunk) fails verify as it fails a restore. Only a writer's bug makes these, so each is crafted
 * here by hand: chunk files written whole and an index pointed at them (with the manifest's digest
 * of the index updated, as a writer would have written it).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import { Repository, SnapshotWriter, verifyRepository } from '../index.js';
import { chunkDigest, chunkHeaderFor } from '../format/chunk-codec.js';
import { ChunkKind, ZERO_DIGEST_HEX } from '../format/constants.js';
import { DiskIndex } from '../format/index-file.js';
import { encodePatch, type PatchRange } from '../format/patch.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir } from './helpers.js';

const CS = 64 * 1024;

interface ManifestFile {
  disks: { target: string; indexSha256: string }[];
}

describe('verify holds each chunk against where it is named', () => {
  let repo: Repository;
  let cleanup = (): Promise<void> => Promise.resolve();
  let n = 0;

  before(async () => {
    let dir = '';
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { chunkSize: CS, workers: 1 });
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  /** Stores `payload` raw as a chunk of `kind`; returns its name. */
  function put(kind: ChunkKind, payload: Buffer): string {
    const digest = chunkDigest(repo.config.hash, kind, payload);
    const file = repo.chunkPath(digest);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, Buffer.concat([chunkHeaderFor(kind, payload.length, null), payload]));
    return digest;
  }

  /** A patch of `slotLength` over `base` with `ranges`, stored; returns its name. */
  function patch(slotLength: number, base: string, ranges: PatchRange[]): string {
    return put(ChunkKind.patch, encodePatch({ base, slotLength, ranges }));
  }

  /**
   * A committed snapshot of one disk of `size` bytes whose slots then name `digests` (written as a
   * writer would: the index, and its digest in the manifest); returns its id.
   */
  async function snapshotNaming(digests: string[], size = CS): Promise<string> {
    const id = `s${++n}`;
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: size, source: '/d', format: 'raw' });
    await w.commit(commitInfo());
    const index = new DiskIndex(CS, size);
    digests.forEach((d, i) => index.set(i, d));
    const bytes = index.encode();
    writeFileSync(repo.indexPath(DOMAIN.uuid, id, 'vda'), bytes);
    const mf = path.join(repo.snapshotDir(DOMAIN.uuid, id), 'manifest.json');
    const m = JSON.parse(readFileSync(mf, 'utf8')) as ManifestFile;
    for (const d of m.disks) {
      d.indexSha256 = createHash('sha256').update(bytes).digest('hex');
    }
    writeFileSync(mf, JSON.stringify(m));
    return id;
  }

  /** A restore of snapshot `id` fails; then verify fails it too, with `code` and `message`. */
  async function failsLikeRestore(id: string, code: string, message: RegExp): Promise<void> {
    // first: verify moves a corrupt chunk aside, after which a restore finds it missing instead
    await assert.rejects(readSnapshot(repo, id), (e) => hasErrorCode(e, 'REPO_CHUNK_CORRUPT'));
    const report = await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: id });
    const r = report.snapshots[`${DOMAIN.uuid}/${id}`];
    assert.equal(r?.status, 'failed', JSON.stringify(report));
    assert.ok(
      r.problems.some((p) => p.code === code && message.test(p.message)),
      JSON.stringify(r.problems),
    );
  }

  const data = (len: number): string => put(ChunkKind.data, rnd(len));
  const range = (digest: string, chunkOffset: number, length = 4096): PatchRange => ({
    slotOffset: 4096,
    length,
    digest,
    chunkOffset,
  });

  it('passes a hand-made patch that fits, so the cases below fail for their fault alone', async () => {
    const id = await snapshotNaming([patch(CS, data(CS), [range(data(8192), 4096)])]);
    const report = await verifyRepository(repo, { domain: DOMAIN.uuid, snapshot: id });
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal(report.chunksChecked, 3);
    assert.equal((await readSnapshot(repo, id)).length, CS);
  });

  it('fails the index that names a data chunk of another length than the slot', async () => {
    const short = data(CS / 2);
    const id = await snapshotNaming([short]);
    await failsLikeRestore(id, 'REPO_INDEX_CORRUPT', /slot of 65536 bytes names data chunk/);
    // the chunk itself is sound: it stays where it is
    statSync(repo.chunkPath(short));
  });

  it('fails the index that names a patch for another slot length', async () => {
    const id = await snapshotNaming([patch(CS / 2, ZERO_DIGEST_HEX, [range(data(8192), 0)])]);
    await failsLikeRestore(id, 'REPO_INDEX_CORRUPT', /names patch .* of 32768 bytes/);
  });

  it('fails, and moves aside, a patch laid over a patch', async () => {
    const inner = patch(CS, ZERO_DIGEST_HEX, [range(data(8192), 0)]);
    const outer = patch(CS, inner, [range(data(8192), 0)]);
    const id = await snapshotNaming([outer]);
    await failsLikeRestore(id, 'REPO_CHUNK_CORRUPT', /base .* is a patch/);
    statSync(`${repo.chunkPath(outer)}.bad`);
  });

  it('fails a patch over a base of another length', async () => {
    const id = await snapshotNaming([patch(CS, data(CS / 2), [range(data(8192), 0)])]);
    await failsLikeRestore(id, 'REPO_CHUNK_CORRUPT', /base .* has 32768 bytes/);
  });

  it('fails a patch whose range reaches past the end of its chunk', async () => {
    const id = await snapshotNaming([patch(CS, ZERO_DIGEST_HEX, [range(data(8192), 6000)])]);
    await failsLikeRestore(id, 'REPO_CHUNK_CORRUPT', /reaches past the end .* \(10096 > 8192\)/);
  });

  it('fails a patch whose range reads a patch', async () => {
    const inner = patch(CS, ZERO_DIGEST_HEX, [range(data(8192), 0)]);
    const id = await snapshotNaming([patch(CS, ZERO_DIGEST_HEX, [range(inner, 0, 16)])]);
    await failsLikeRestore(id, 'REPO_CHUNK_CORRUPT', /range reads patch/);
  });

  it('fails the index whose one chunk fills slots of two lengths', async () => {
    const whole = data(CS);
    const id = await snapshotNaming([whole, whole], CS + CS / 2);
    await failsLikeRestore(id, 'REPO_INDEX_CORRUPT', /fills slots of 65536 and 32768 bytes/);
  });
});
