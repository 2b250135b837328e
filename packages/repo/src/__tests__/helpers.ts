import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { type CommitInfo, Repository, type SnapshotReader } from '../index.js';

/** A fixed domain uuid for tests. */
export const DOMAIN = { uuid: '11111111-2222-3333-4444-555555555555', name: 'vm1' };

/** A temp folder removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vv-repo-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A new repository (one chunk worker) in a temp folder; `cleanup` closes it and removes both. */
export async function tempRepo(
  chunkSize: number,
): Promise<{ repo: Repository; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await tempDir();
  const repo = await Repository.init(dir, { chunkSize, workers: 1 });
  return {
    repo,
    cleanup: async () => {
      await repo.close();
      await cleanup();
    },
  };
}

/** Commit fields for tests. */
export function commitInfo(level: CommitInfo['level'] = 'full'): CommitInfo {
  return {
    host: 'host-a',
    level,
    reasons: [],
    checkpoint: null,
    domainXml: '<domain/>',
    startedAt: '2025-01-01T00:00:00.000Z',
    endedAt: '2025-01-01T00:01:00.000Z',
    toolVersion: 'test',
  };
}

/** Reads a whole disk of a snapshot into one buffer (holes as zeros). */
export async function readAll(reader: SnapshotReader, target: string): Promise<Buffer> {
  const disk = reader.manifest.disks.find((d) => d.target === target);
  const out = Buffer.alloc(disk?.virtualSize ?? 0);
  let expect = 0;
  for await (const e of reader.readDisk(target)) {
    if (e.offset !== expect) {
      throw new Error(`extent gap at ${expect}`);
    }
    if (!e.zero) {
      e.data.copy(out, e.offset);
    }
    expect = e.offset + e.length;
  }
  return out;
}

/** Opens a reader, reads a disk, closes. */
export async function readSnapshot(repo: Repository, id: string, target = 'vda'): Promise<Buffer> {
  const { SnapshotReader: R } = await import('../index.js');
  const r = new R(repo, DOMAIN.uuid, id);
  await r.open();
  try {
    return await readAll(r, target);
  } finally {
    await r.close();
  }
}

/** Random bytes. */
export function rnd(n: number): Buffer {
  return randomBytes(n);
}
