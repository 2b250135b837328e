import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import { assertUnderRestoreRoots } from '../restore-roots.js';

let dir = '';
let root = '';

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vv-roots-'));
  root = path.join(dir, 'images');
  await mkdir(path.join(root, 'vm1'), { recursive: true });
  await mkdir(path.join(dir, 'elsewhere'));
  // a link inside the root that leads out of it
  await symlink(path.join(dir, 'elsewhere'), path.join(root, 'out'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const refused = (e: unknown) => hasErrorCode(e, 'OUTPUT_DIR_REFUSED');

describe('restore roots', () => {
  it('lets a restore write under a root, existing or not yet', async () => {
    await assertUnderRestoreRoots(root, [root]);
    await assertUnderRestoreRoots(path.join(root, 'vm1'), [root]);
    await assertUnderRestoreRoots(path.join(root, 'new', 'deeper'), ['/nonexistent', root]);
    // a name that only starts with two dots stays inside
    await assertUnderRestoreRoots(path.join(root, '..vm'), [root]);
  });

  it('refuses a folder outside every root, by a path or through a link', async () => {
    await assert.rejects(assertUnderRestoreRoots('/etc/cron.d', [root]), refused);
    await assert.rejects(
      assertUnderRestoreRoots(path.join(root, '..', 'elsewhere'), [root]),
      refused,
    );
    await assert.rejects(assertUnderRestoreRoots(path.join(root, 'out'), [root]), refused);
    await assert.rejects(assertUnderRestoreRoots(path.join(root, 'out', 'new'), [root]), refused);
    await assert.rejects(assertUnderRestoreRoots(`${root}-evil/x`, [root]), refused);
  });
});
