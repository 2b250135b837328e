import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { makeDirsSync } from '../make-dirs.js';

const root = mkdtempSync(join(tmpdir(), 'vv-make-dirs-'));
after(() => rmSync(root, { recursive: true, force: true }));

const hasErrno = (code: string) => (e: unknown) => (e as { code?: unknown }).code === code;

describe('makeDirsSync', () => {
  it('creates a folder and its missing parents, and accepts one that exists', () => {
    const dir = join(root, 'a', 'b', 'c');
    assert.deepEqual(makeDirsSync(dir), [join(root, 'a'), join(root, 'a', 'b'), dir]);
    assert.ok(statSync(dir).isDirectory());
    assert.deepEqual(makeDirsSync(dir), [], 'nothing created the second time');
    makeDirsSync(join(root, 'a'));
    assert.ok(statSync(dir).isDirectory());
  });

  it('applies the mode to the folders it creates', () => {
    const dir = join(root, 'private', 'state');
    makeDirsSync(dir, 0o700);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(root, 'private')).mode & 0o777, 0o700);
  });

  it('fails with ENOTDIR under a file, creating nothing', () => {
    const file = join(root, 'file');
    writeFileSync(file, 'x');
    assert.throws(() => makeDirsSync(join(file, 'x', 'y')), hasErrno('ENOTDIR'));
  });

  it(
    'fails, rather than spinning, where the filesystem takes no folders',
    { timeout: 10_000 },
    () => {
      // node's recursive mkdir loops forever here (mkdir fails ENOENT under an existing /proc)
      assert.throws(() => makeDirsSync('/proc/virtvault-test/repo'), hasErrno('ENOENT'));
    },
  );
});
