import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import { openRepository } from '../repo-access.js';
import { RepositoryCache } from '../standalone.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vv-repo-cache-'));
  dirs.push(d);
  return d;
}

describe('repositories a backup opens', () => {
  it('makes nothing until the backup opens a missing repository, and reads it as empty', async () => {
    const repoDir = join(workDir(), 'new');
    const repos = new RepositoryCache();
    try {
      await repos.prepare(repoDir);
      assert.equal(existsSync(repoDir), false, 'prepare makes no folder');
      assert.deepEqual(
        await repos.listManifests(repoDir, '6f1c9a6e-0000-4000-8000-000000000001'),
        [],
      );
      assert.equal(
        (await repos.verifyResults(repoDir, '6f1c9a6e-0000-4000-8000-000000000001')).size,
        0,
      );
      assert.equal(existsSync(repoDir), false, 'reading the planned repository makes no folder');
      const repo = await repos.get(repoDir);
      assert.equal(repo.root, repoDir);
      assert.ok(readdirSync(repoDir).includes('config.json'), 'the backup made it');
      assert.equal(await repos.get(repoDir), repo, 'opened once per command');
    } finally {
      await repos.close();
    }
  });

  it('refuses a folder holding other files at once, and opens an existing repository', async () => {
    const busy = join(workDir(), 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    await assert.rejects(new RepositoryCache().prepare(busy), (e) =>
      hasErrorCode(e, 'REPO_NOT_FOUND'),
    );
    assert.deepEqual(readdirSync(busy), ['notes.txt']);
    const existing = join(workDir(), 'existing');
    await (await openRepository(existing, true)).close();
    const repos = new RepositoryCache();
    try {
      await repos.prepare(existing);
      assert.equal((await repos.get(existing)).root, existing);
    } finally {
      await repos.close();
    }
  });

  it('finds no repository where none is made yet, and makes none (doctor before a first backup)', async () => {
    const missing = join(workDir(), 'missing');
    const empty = join(workDir(), 'empty');
    mkdirSync(empty);
    const existing = join(workDir(), 'there');
    await (await openRepository(existing, true)).close();
    const repos = new RepositoryCache();
    try {
      assert.equal(await repos.find(missing), null);
      assert.equal(await repos.find(empty), null);
      assert.equal(existsSync(missing), false, 'no folder made');
      assert.deepEqual(readdirSync(empty), [], 'nothing made in the empty folder');
      assert.deepEqual(
        await repos.listManifests(missing, '6f1c9a6e-0000-4000-8000-000000000001'),
        [],
      );
      assert.equal((await repos.find(existing))?.root, existing);
    } finally {
      await repos.close();
    }
    assert.equal(existsSync(missing), false, 'nor when closed');
  });

  it('lets backups that make the same new repository at once all use it', async () => {
    const repoDir = join(workDir(), 'raced');
    const all = await Promise.all([1, 2, 3, 4].map(() => openRepository(repoDir, true)));
    try {
      assert.equal(new Set(all.map((r) => r.config.id)).size, 1, 'one repository');
    } finally {
      await Promise.all(all.map((r) => r.close()));
    }
  });
});
