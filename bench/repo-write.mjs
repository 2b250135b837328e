#!/usr/bin/env node
// bench/repo-write: writes 2 GiB of mixed data (half random, a quarter zeros, a quarter repeated
// blocks) into a fresh repository (4 MiB slots, zstd) and, in the same run, the same bytes as a
// plain sequential file write (+ fsync), then prints
//   repo-write: MiB/s=<x> vs-plain-write=<ratio> dedup=<ratio> rss=<MiB>
// Usage: npx tsc -b packages/repo && node bench/repo-write.mjs [--gib N] [--level L] [--dir DIR]
// rss is the process's peak resident set (main thread + hash workers).
import { createCipheriv, createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { Repository, SnapshotWriter } from '../packages/repo/dist/index.js';

const { values } = parseArgs({
  options: {
    gib: { type: 'string', default: '2' },
    level: { type: 'string', default: '1' },
    dir: { type: 'string' },
  },
});
const SLOT = 4 * 1024 * 1024;
const SLOTS = Math.round(Number(values.gib) * 256);
const LEVEL = Number(values.level);
const ZEROS = Buffer.alloc(64 * 1024);
const base = mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'vv-bench-'));

/** Slot i: 0,1 mod 4 random (unique), 2 zeros, 3 one of 8 repeated blocks. */
function slotData(i, buf) {
  const kind = i % 4;
  if (kind === 2) {
    return buf.fill(0);
  }
  const key = createHash('sha256')
    .update(kind === 3 ? `rep-${(i >> 2) % 8}` : `rnd-${i}`)
    .digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  // 64 KiB at a time: no 4 MiB of garbage per slot in the generator itself
  for (let o = 0; o < SLOT; o += ZEROS.length) {
    c.update(ZEROS).copy(buf, o);
  }
  return buf;
}

function plainWrite() {
  const file = path.join(base, 'plain.img');
  const buf = Buffer.alloc(SLOT);
  const t0 = process.hrtime.bigint();
  const fd = openSync(file, 'w');
  for (let i = 0; i < SLOTS; i++) {
    writeSync(fd, slotData(i, buf));
  }
  fsyncSync(fd);
  closeSync(fd);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(file);
  return s;
}

async function repoWrite() {
  const repo = await Repository.init(path.join(base, 'repo'), { compressionLevel: LEVEL });
  const t0 = process.hrtime.bigint();
  const w = new SnapshotWriter(repo, {
    domain: { uuid: '00000000-0000-4000-8000-000000000001', name: 'bench' },
  });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: SLOTS * SLOT, source: 'bench', format: 'raw' });
  // Producers: a few slots in flight; the writer's own semaphore bounds the copies in the pool.
  const inflight = new Set();
  for (let i = 0; i < SLOTS; i++) {
    const p = w
      .putSlot('vda', i, slotData(i, Buffer.allocUnsafe(SLOT)))
      .finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 4) {
      await Promise.race(inflight);
    }
  }
  await Promise.all(inflight);
  const now = new Date().toISOString();
  await w.commit({
    host: os.hostname(),
    level: 'full',
    reasons: [],
    checkpoint: null,
    domainXml: '',
    startedAt: now,
    endedAt: now,
    toolVersion: 'bench',
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await repo.close();
  return s;
}

function storedBytes(dir) {
  let n = 0;
  for (const hh of readdirSync(dir)) {
    for (const f of readdirSync(path.join(dir, hh))) {
      n += statSync(path.join(dir, hh, f)).size;
    }
  }
  return n;
}

try {
  const plain = plainWrite();
  const repo = await repoWrite();
  const logical = SLOTS * SLOT;
  const stored = storedBytes(path.join(base, 'repo', 'chunks'));
  const mib = logical / 1048576;
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(
    `plain: ${(mib / plain).toFixed(1)} MiB/s (${plain.toFixed(2)} s); repo: ${repo.toFixed(2)} s, stored ${(stored / 1048576).toFixed(0)} MiB, zstd level ${LEVEL}, cores ${os.availableParallelism()}`,
  );
  console.log(
    `repo-write: MiB/s=${(mib / repo).toFixed(1)} vs-plain-write=${(plain / repo).toFixed(2)} dedup=${(logical / stored).toFixed(2)} rss=${rss.toFixed(0)}`,
  );
} finally {
  rmSync(base, { recursive: true, force: true });
}
