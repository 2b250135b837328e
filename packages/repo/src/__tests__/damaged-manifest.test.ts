import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  collectGarbage,
  prune,
  readManifests,
  readVerifyResult,
  removeSnapshot,
  type Repository,
  SnapshotWriter,
  unresolvedQuarantine,
  verifyRepository,
} from '../index.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempRepo } from './helpers.js';

const CS = 64 * 1024;
const HOUR_MS = 3_600_000;

async function snapshot(repo: Repository, id: string): Promise<void> {
  const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
  await w.putSlot('vda', 0, rnd(CS));
  await w.commit(commitInfo());
}

describe('a damaged manifest', () => {
  let repo: Repository;
  let cleanup: () => Promise<void> = () => Promise.resolve();
  const manifest = (id: string): string =>
    path.join(repo.snapshotDir(DOMAIN.uuid, id), 'manifest.json');

  before(async () => {
    ({ repo, cleanup } = await tempRepo(CS));
    for (const id of ['a', 'b', 'c']) {
      await snapshot(repo, id);
    }
    await writeFile(manifest('b'), '{"format": "virtvault-snap');
  });
  after(() => cleanup());

  it('is listed apart and hides no other snapshot', async () => {
    for (const domain of [undefined, DOMAIN.uuid]) {
      const l = await readManifests(repo, domain);
      assert.deepEqual(
        l.manifests.map((m) => m.id),
        ['a', 'c'],
      );
      assert.deepEqual(
        l.damaged.map((d) => [d.domain, d.id, d.error.code]),
        [[DOMAIN.uuid, 'b', 'REPO_MANIFEST_INVALID']],
      );
    }
  });

  it('is left alone by prune, which still applies its rules to the rest', async () => {
    const r = await prune(repo, { policy: { keepLast: 1 }, timeZone: 'UTC', dryRun: true });
    assert.deepEqual(r.damaged, [`${DOMAIN.uuid}/b`]);
    assert.deepEqual(r.removed, [`${DOMAIN.uuid}/a`]);
  });

  it('is removed by removeSnapshot like any other snapshot', async () => {
    await snapshot(repo, 'd');
    await writeFile(manifest('d'), 'not json');
    await removeSnapshot(repo, DOMAIN.uuid, 'd');
    assert.deepEqual(
      (await readManifests(repo)).damaged.map((d) => d.id),
      ['b'],
    );
    await assert.rejects(removeSnapshot(repo, DOMAIN.uuid, 'd'), {
      code: 'REPO_SNAPSHOT_NOT_FOUND',
    });
  });

  it('in a folder copied under another id is damaged, and prune never acts on the original', async () => {
    await snapshot(repo, 'e');
    await cp(repo.snapshotDir(DOMAIN.uuid, 'e'), repo.snapshotDir(DOMAIN.uuid, 'e-copy'), {
      recursive: true,
    });
    const l = await readManifests(repo, DOMAIN.uuid);
    assert.deepEqual(
      l.manifests.map((m) => m.id),
      ['a', 'c', 'e'],
    );
    const copy = l.damaged.find((d) => d.id === 'e-copy');
    assert.match(copy?.error.message ?? '', /names snapshot .*\/e: the folder was copied/);
    // keep the newest: before, the copy counted as a second "e" and could remove or keep it twice
    const r = await prune(repo, { policy: { keepLast: 1 }, timeZone: 'UTC', dryRun: true });
    assert.deepEqual([...r.removed].sort(), [`${DOMAIN.uuid}/a`, `${DOMAIN.uuid}/c`]);
    await removeSnapshot(repo, DOMAIN.uuid, 'e-copy');
    await removeSnapshot(repo, DOMAIN.uuid, 'e');
  });

  it('with a field the lineage cannot record is damaged, not a failure of every reconcile', async () => {
    const text = await readFile(manifest('c'), 'utf8');
    const good = JSON.parse(text) as Record<string, unknown>;
    const wrongs: [Record<string, unknown>, RegExp][] = [
      [{ startedAt: '2026-13-01T00:00:00Z' }, /startedAt .* is not a date/],
      [{ endedAt: 7 }, /endedAt 7 is not a date/],
      [{ level: 'copy' }, /unknown level copy/],
      [{ checkpoint: { name: 'nightly', xml: '' } }, /checkpoint nightly is not one of ours/],
      [{ host: '' }, /no host/],
      [{ parent: '../x' }, /snapshot id/],
    ];
    for (const [wrong, says] of wrongs) {
      await writeFile(manifest('c'), JSON.stringify({ ...good, ...wrong }));
      const l = await readManifests(repo, DOMAIN.uuid);
      const c = l.damaged.find((d) => d.id === 'c');
      assert.equal(c?.error.code, 'REPO_MANIFEST_INVALID', JSON.stringify(wrong));
      assert.match(String((c?.error.cause as Error | undefined)?.message), says);
    }
    await writeFile(manifest('c'), text);
    assert.ok((await readManifests(repo, DOMAIN.uuid)).manifests.some((m) => m.id === 'c'));
  });

  it('of a newer format still stops the listing: not ours to judge', async () => {
    const text = await readFile(manifest('c'), 'utf8');
    await writeFile(manifest('c'), text.replace('"version": 1', '"version": 2'));
    await assert.rejects(readManifests(repo), { code: 'REPO_FORMAT_UNSUPPORTED' });
    await writeFile(manifest('c'), text);
  });
});

describe('GC beside an index it cannot read', () => {
  it('sweeps nothing, says which, and sweeps again once that snapshot is gone', async () => {
    const { repo, cleanup } = await tempRepo(CS);
    try {
      for (const id of ['a', 'b', 'c']) {
        await snapshot(repo, id);
      }
      await removeSnapshot(repo, DOMAIN.uuid, 'a');
      const index = path.join(repo.snapshotDir(DOMAIN.uuid, 'b'), 'vda.index');
      await writeFile(index, (await readFile(index)).subarray(0, 20));
      // every chunk counts as old: the unused one would go
      const blocked = await collectGarbage(repo, { skewMarginMs: -3_600_000 });
      assert.deepEqual(blocked.unreadableIndexes, [`${DOMAIN.uuid}/b/vda.index`]);
      assert.equal(blocked.swept, 0, "b's chunks are unknown: none may go");
      await removeSnapshot(repo, DOMAIN.uuid, 'b');
      const r = await collectGarbage(repo, { skewMarginMs: -3_600_000 });
      assert.deepEqual(r.unreadableIndexes, []);
      assert.equal(r.swept, 2, "a's and b's chunks");
    } finally {
      await cleanup();
    }
  });
});

describe('GC after a GC that died mid-sweep', () => {
  it('puts back a chunk it left moved aside, which a writer had reused, however old', async () => {
    const { repo, cleanup } = await tempRepo(CS);
    try {
      await snapshot(repo, 'a');
      const digest = (await repo.readIndex(DOMAIN.uuid, 'a', 'vda')).get(0);
      const file = repo.chunkPath(digest);
      const aside = path.join(path.dirname(file), `.gc-${digest}-0a1b2c3d4e5f`);
      await rename(file, aside);
      const old = new Date(Date.now() - 7_200_000);
      await utimes(aside, old, old);
      const r = await collectGarbage(repo);
      assert.deepEqual([r.unreadable, r.swept], [[], 0]);
      assert.equal((await stat(file)).isFile(), true, 'back under its name');
      await assert.rejects(stat(aside), { code: 'ENOENT' });
      assert.equal((await readSnapshot(repo, 'a')).length, CS);
    } finally {
      await cleanup();
    }
  });
});

describe('a listing of many snapshots (manifests read side by side)', () => {
  let repo: Repository;
  let cleanup: () => Promise<void> = () => Promise.resolve();
  const ids = Array.from({ length: 40 }, (_, i) => `s${String(i).padStart(2, '0')}`);

  before(async () => {
    ({ repo, cleanup } = await tempRepo(CS));
    for (const id of ids) {
      await snapshot(repo, id);
    }
    for (const id of ['s07', 's23']) {
      await writeFile(path.join(repo.snapshotDir(DOMAIN.uuid, id), 'manifest.json'), 'x');
    }
    // a snapshot being written: its folder holds no manifest yet
    await mkdir(repo.snapshotDir(DOMAIN.uuid, 's30a'));
  });
  after(() => cleanup());

  it('keeps every snapshot, in order, the damaged ones apart and the uncommitted one out', async () => {
    const refs = await repo.listSnapshots(DOMAIN.uuid);
    assert.deepEqual(
      refs.filter((r) => r.committed).map((r) => r.id),
      ids,
    );
    assert.deepEqual(
      refs.filter((r) => !r.committed).map((r) => r.id),
      ['s30a'],
    );
    const l = await readManifests(repo, DOMAIN.uuid);
    assert.deepEqual(
      l.manifests.map((m) => m.id),
      ids.filter((id) => id !== 's07' && id !== 's23'),
    );
    assert.deepEqual(
      l.damaged.map((d) => d.id),
      ['s07', 's23'],
    );
  });
});

describe('prune and the chain', () => {
  it("keeps each domain's newest full, which its next differential builds on", async () => {
    const { repo, cleanup } = await tempRepo(CS);
    try {
      const at = (h: number) => `2025-01-0${h}T00:00:00.000Z`;
      const take = async (id: string, level: 'full' | 'differential', day: number) => {
        const parent = level === 'full' ? {} : { parent: 'f1' };
        const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id, ...parent });
        await w.open();
        await w.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
        await w.putSlot('vda', 0, rnd(CS));
        await w.commit({ ...commitInfo(level), startedAt: at(day), endedAt: at(day) });
      };
      await take('f0', 'full', 1);
      await take('f1', 'full', 2);
      for (const [i, id] of ['d1', 'd2', 'd3'].entries()) {
        await take(id, 'differential', 3 + i);
      }
      const r = await prune(repo, { policy: { keepLast: 2 }, timeZone: 'UTC' });
      assert.deepEqual(
        r.kept.map((k) => [k.snapshot.split('/')[1], k.reasons]),
        [
          ['d3', ['last']],
          ['d2', ['last']],
          ['f1', ['base']],
        ],
      );
      assert.deepEqual([...r.removed].sort(), [`${DOMAIN.uuid}/d1`, `${DOMAIN.uuid}/f0`]);
    } finally {
      await cleanup();
    }
  });
});

describe('a snapshot removed while the manifests are read', () => {
  /**
   * A repository of snapshots x and y whose next listing is followed by `meanwhile` (a prune's
   * removal landing between the listing and the reads of what it found); runs `check` on it.
   */
  async function removedWhileListed(
    meanwhile: (repo: Repository) => Promise<void>,
    check: (repo: Repository) => Promise<void>,
  ): Promise<void> {
    const { repo, cleanup } = await tempRepo(CS);
    try {
      for (const id of ['x', 'y']) {
        await snapshot(repo, id);
      }
      const list = repo.listSnapshots.bind(repo);
      repo.listSnapshots = async (domain?: string) => {
        const refs = await list(domain);
        repo.listSnapshots = list; // once: a GC in `meanwhile` lists too
        await meanwhile(repo);
        return refs;
      };
      await check(repo);
    } finally {
      await cleanup();
    }
  }

  it('is gone from the listing, not a failure of it (a backup reconciling beside a prune)', () =>
    removedWhileListed(
      (repo) => removeSnapshot(repo, DOMAIN.uuid, 'x'),
      async (repo) => {
        const l = await readManifests(repo);
        assert.deepEqual(
          l.manifests.map((m) => m.id),
          ['y'],
        );
        assert.deepEqual(l.damaged, []);
      },
    ));

  it('is left out of a verify, which records the rest and quarantines nothing of it', () =>
    removedWhileListed(
      async (repo) => {
        await removeSnapshot(repo, DOMAIN.uuid, 'x');
        await collectGarbage(repo, { skewMarginMs: -HOUR_MS });
      },
      async (repo) => {
        const v = await verifyRepository(repo);
        assert.deepEqual(Object.keys(v.snapshots), [`${DOMAIN.uuid}/y`]);
        assert.equal(v.ok, true);
        assert.deepEqual(v.chunks, []);
        assert.equal((await unresolvedQuarantine(repo.root)).size, 0);
        assert.equal((await readVerifyResult(repo, DOMAIN.uuid, 'y'))?.status, 'ok');
      },
    ));
});
