import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';

import { blake3 } from '@napi-rs/blake-hash';

import { hasErrorCode } from '@virtvault/core';

import { defaultChunkHash, loadBlake3 } from '../format/blake3.js';
import { chunkDigest } from '../format/chunk-codec.js';
import { ChunkKind, PATCH_DIGEST_PREFIX } from '../format/constants.js';
import { type ChunkHash, Repository, SnapshotWriter, verifyRepository } from '../index.js';
import { chunkKind } from '../resolve.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir } from './helpers.js';

const CS = 64 * 1024;

/** The reference digests, computed by other code paths than `chunkDigest`'s streaming hashers. */
const reference: Record<ChunkHash, (b: Buffer) => string> = {
  blake3: (b) => blake3(b).toString('hex'),
  sha256: (b) => createHash('sha256').update(b).digest('hex'),
};

describe('chunk digests', () => {
  it('match the published test vectors of the empty input', () => {
    const empty = Buffer.alloc(0);
    assert.equal(
      chunkDigest('blake3', ChunkKind.data, empty),
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    );
    assert.equal(
      chunkDigest('sha256', ChunkKind.data, empty),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('hash a patch after its prefix, so no data chunk shares its name', () => {
    const payload = rnd(1000);
    for (const hash of ['blake3', 'sha256'] as const) {
      const prefixed = Buffer.concat([Buffer.from(PATCH_DIGEST_PREFIX), payload]);
      assert.equal(chunkDigest(hash, ChunkKind.patch, payload), reference[hash](prefixed));
      assert.equal(chunkDigest(hash, ChunkKind.data, payload), reference[hash](payload));
    }
  });
});

/** Writes a full and an incremental holding a patch; returns the full's disk and the final one. */
async function fullAndPatch(repo: Repository): Promise<{ disk: Buffer; after: Buffer }> {
  const disk = rnd(CS * 3);
  const full = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'f' });
  await full.open();
  await full.startDisk({ target: 'vda', virtualSize: disk.length, source: 's', format: 'qcow2' });
  for (let i = 0; i < 3; i++) {
    await full.putSlot('vda', i, disk.subarray(i * CS, (i + 1) * CS));
  }
  await full.commit(commitInfo());
  const inc = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'i', parent: 'f' });
  await inc.open();
  await inc.startDisk({ target: 'vda', virtualSize: disk.length, source: 's', format: 'qcow2' });
  const island = rnd(4096);
  await inc.putPatch('vda', 1, [{ offsetInSlot: 8192, data: island }]);
  await inc.commit(commitInfo('incremental'));
  const after = Buffer.from(disk);
  island.copy(after, CS + 8192);
  return { disk, after };
}

describe('a repository names its chunks with the digest its config.json names', () => {
  for (const hash of ['blake3', 'sha256'] as const) {
    it(`${hash}: written, read back byte-exact, patched and verified`, async () => {
      const { dir, cleanup } = await tempDir();
      const repo = await Repository.init(dir, {
        chunkSize: CS,
        workers: 2,
        ...(hash === 'sha256' ? { hash } : {}),
      });
      try {
        const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as {
          hash: string;
        };
        assert.equal(config.hash, hash, 'new repositories default to BLAKE3');
        const { disk, after } = await fullAndPatch(repo);
        const idx = await repo.readIndex(DOMAIN.uuid, 'f', 'vda');
        for (let s = 0; s < 3; s++) {
          assert.equal(idx.get(s), reference[hash](disk.subarray(s * CS, (s + 1) * CS)));
        }
        const patched = (await repo.readIndex(DOMAIN.uuid, 'i', 'vda')).get(1);
        assert.equal(await chunkKind(repo, patched), ChunkKind.patch);
        assert.ok((await readSnapshot(repo, 'f')).equals(disk));
        assert.ok((await readSnapshot(repo, 'i')).equals(after));
        const report = await verifyRepository(repo);
        assert.equal(report.ok, true);
        assert.ok(report.chunksChecked >= 5, `checked ${report.chunksChecked} chunks`);
      } finally {
        await repo.close();
        await cleanup();
      }
    });
  }

  it('refuses a digest it does not know, naming it', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const config = { format: 'virtvault-repository', version: 1, chunkSize: CS };
      await writeFile(
        path.join(dir, 'config.json'),
        JSON.stringify({ ...config, hash: 'md5', compression: 'zstd' }),
      );
      await assert.rejects(
        new Repository(dir).open(),
        (e) => hasErrorCode(e, 'REPO_FORMAT_UNSUPPORTED') && String(e).includes('"md5"'),
      );
    } finally {
      await cleanup();
    }
  });
});

describe('where the BLAKE3 addon does not load', () => {
  it('new repositories fall back to SHA-256', () => {
    const missing = loadBlake3(() => {
      throw new Error("Cannot find module '@napi-rs/blake-hash-linux-x64-gnu'");
    });
    assert.equal(missing, null);
    assert.equal(defaultChunkHash(missing), 'sha256');
  });

  it('loads the installed addon here, so new repositories use BLAKE3', () => {
    const here = loadBlake3(createRequire(import.meta.url));
    assert.notEqual(here, null);
    assert.equal(defaultChunkHash(here), 'blake3');
  });
});
