import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { hasErrorCode } from '@virtvault/core';

import {
  collectGarbage,
  readLeases,
  Repository,
  SnapshotReader,
  verifyRepository,
} from '../index.js';
import { DOMAIN, readSnapshot, tempDir } from './helpers.js';
import { imageAt, type WorkloadSpec } from './fixtures/workload.js';

const PROC = fileURLToPath(new URL('./fixtures/writer-proc.js', import.meta.url));
const CS = 64 * 1024;
const HOUR = 3_600_000;

/** Starts a writer subprocess; `onLine` sees each progress line. */
function startWriter(
  args: object,
  onLine: (line: string, child: ChildProcess) => void = () => undefined,
): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [PROC, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buf = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      onLine(buf.slice(0, i), child);
      buf = buf.slice(i + 1);
    }
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) {
        process.stderr.write(`writer failed: ${err}\n`);
      }
      resolve(code);
    }),
  );
  return { child, exit };
}

/** Lists every file under `chunks/` (names only). */
async function chunkFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const hh of await readdir(path.join(root, 'chunks'))) {
    out.push(...(await readdir(path.join(root, 'chunks', hh))));
  }
  return out;
}

describe('crash: writer killed with SIGKILL at 20 random points', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;
  const spec: WorkloadSpec = { seed: 'crash', slots: 24, chunkSize: CS };
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { chunkSize: CS, workers: 1 });
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  it('leaves verify clean, the half-written snapshot invisible, and GC removes its leftovers', async () => {
    // a committed base (rounds 0 and 1) that each crashing writer builds on
    const base = startWriter({ root: dir, spec, rounds: 2, prefix: 'base' });
    assert.equal(await base.exit, 0);
    const kills: string[] = [];
    for (let i = 0; i < 20; i++) {
      const prefix = `crash${i}`;
      // 3 rounds print ~55 events (open, slots, before-commit, committed); kill after a random
      // one, or (one time in four) a few ms after the last "before-commit", inside the commit
      const commitMode = randomInt(4) === 0;
      const target = commitMode ? -1 : randomInt(1, 50);
      let seen = 0;
      const { exit } = startWriter({ root: dir, spec, rounds: 3, prefix }, (line, child) => {
        seen++;
        const inCommit = commitMode && line.startsWith('before-commit') && line.endsWith('-r2');
        if (seen === target || inCommit) {
          kills.push(`${prefix}@${line}`);
          setTimeout(() => child.kill('SIGKILL'), inCommit ? randomInt(0, 6) : 0);
        }
      });
      await exit;
      await checkAfterCrash(repo, prefix, spec);
    }
    assert.equal(kills.length, 20, kills.join(', '));
  });
});

async function checkAfterCrash(
  repo: Repository,
  prefix: string,
  spec: WorkloadSpec,
): Promise<void> {
  const mine = (await repo.listSnapshots(DOMAIN.uuid)).filter((s) => s.id.startsWith(`${prefix}-`));
  for (const s of mine) {
    const r = Number(s.id.slice(-1));
    if (s.committed) {
      assert.ok(
        (await readSnapshot(repo, s.id)).equals(imageAt(spec, r)),
        `${s.id} committed before the kill reads back`,
      );
    } else {
      await assert.rejects(new SnapshotReader(repo, DOMAIN.uuid, s.id).open(), (e) =>
        hasErrorCode(e, 'REPO_SNAPSHOT_NOT_FOUND'),
      );
    }
  }
  const v = await verifyRepository(repo);
  assert.ok(v.ok, JSON.stringify(v.chunks));
  // GC an hour later: the killed writer's lease has expired
  const later = new Repository(repo.root, { now: () => Date.now() + HOUR });
  await later.open();
  try {
    const gc = await collectGarbage(later, { skewMarginMs: 0 });
    assert.deepEqual(
      gc.removedSnapshots.sort(),
      mine
        .filter((s) => !s.committed)
        .map((s) => `${DOMAIN.uuid}/${s.id}`)
        .sort(),
    );
    const files = await chunkFiles(repo.root);
    assert.deepEqual(
      files.filter((f) => f.startsWith('.')),
      [],
      'no temp files left',
    );
    assert.equal(files.length, gc.marked, 'every remaining chunk is referenced');
    assert.deepEqual(await readLeases(repo), []);
    assert.ok((await repo.listSnapshots()).every((s) => s.committed));
  } finally {
    await later.close();
  }
}

describe('concurrency: 4 writer processes with overlapping data while GC runs', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { chunkSize: CS, workers: 1 });
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  it('reads every committed snapshot back byte-exact and verifies clean', async () => {
    const specs = [0, 1, 2, 3].map((w) => ({ seed: `w${w}`, slots: 32, chunkSize: CS }));
    const writers = specs.map((spec, w) =>
      startWriter({ root: dir, spec, rounds: 4, prefix: `w${w}`, abortEvery: 2 + (w % 2) }),
    );
    let running = true;
    const done = Promise.all(writers.map((x) => x.exit)).finally(() => (running = false));
    let gcRuns = 0;
    let swept = 0;
    while (running) {
      // a small margin: only the kernel's coarse file clock needs covering on one host
      const r = await collectGarbage(repo, { skewMarginMs: 50 });
      gcRuns++;
      swept += r.swept;
    }
    assert.deepEqual(await done, [0, 0, 0, 0]);
    const final = await collectGarbage(repo, { skewMarginMs: 50 });
    swept += final.swept;
    for (const [w, spec] of specs.entries()) {
      for (let r = 0; r < 4; r++) {
        assert.ok(
          (await readSnapshot(repo, `w${w}-r${r}`)).equals(imageAt(spec, r)),
          `w${w}-r${r}`,
        );
      }
    }
    const v = await verifyRepository(repo);
    assert.ok(v.ok, JSON.stringify(v.chunks));
    assert.equal(Object.keys(v.snapshots).length, 16);
    assert.ok(gcRuns >= 2, `GC ran during the writes (${gcRuns})`);
    // an aborted attempt discards its unpublished chunks itself: nothing is left for GC
    assert.equal(swept, 0, 'no orphan chunk was ever published');
    const temps = (await chunkFiles(dir)).filter((n) => n.startsWith('.tmp-'));
    assert.deepEqual(temps, [], 'no temp file is left behind');
  });
});
