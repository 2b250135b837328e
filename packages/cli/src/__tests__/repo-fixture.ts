/** Small repositories for the CLI's tests: one domain, full snapshots of one 64 KiB disk each. */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { Repository, SnapshotWriter } from '@virtvault/repo';

/** The domain every fixture snapshot belongs to. */
export const DOMAIN = { uuid: '11111111-2222-3333-4444-555555555555', name: 'vm1' };

/**
 * Makes a repository in `dir` holding one full snapshot per entry of `snapshots` (id and start
 * time, ISO; of {@link DOMAIN} on host `h` unless given), each disk filled with its own byte so
 * that no two share a chunk.
 */
export async function repoWithSnapshots(
  dir: string,
  snapshots: {
    id: string;
    startedAt: string;
    domain?: { uuid: string; name: string };
    host?: string;
  }[],
): Promise<void> {
  const repo = await Repository.init(dir, { chunkSize: 65536, workers: 1 });
  try {
    for (const [i, s] of snapshots.entries()) {
      const w = new SnapshotWriter(repo, { domain: s.domain ?? DOMAIN, snapshotId: s.id });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: 65536, source: 's', format: 'raw' });
      await w.putSlot('vda', 0, Buffer.alloc(65536, i + 1));
      const ended = new Date(Date.parse(s.startedAt) + 60_000).toISOString();
      await w.commit({
        host: s.host ?? 'h',
        level: 'full',
        reasons: [],
        checkpoint: null,
        domainXml: '<domain/>',
        startedAt: s.startedAt,
        endedAt: ended,
        toolVersion: 'test',
      });
    }
  } finally {
    await repo.close();
  }
}

/** Every file under `dir`, recursively (a repository's chunk files, say). */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}
