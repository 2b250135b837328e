/**
 * The scratch folder must be this process's own and writable by no one else: root makes, hands
 * over and recursively removes job folders there.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import { assertPrivateScratch } from '../scratch-guard.js';

const NOBODY = 65534;

describe('assertPrivateScratch', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'vv-scratch-guard-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const unsafe = (dir: string, says: RegExp) =>
    assert.throws(
      () => assertPrivateScratch(dir),
      (e) => hasErrorCode(e, 'SCRATCH_UNSAFE') && says.test((e as Error).message),
    );

  it('takes a folder of ours with mode 0711, or a link of ours to one', () => {
    const mine = path.join(root, 'mine');
    mkdirSync(mine, { mode: 0o711 });
    chmodSync(mine, 0o711);
    assertPrivateScratch(mine);
    const link = path.join(root, 'link');
    symlinkSync(mine, link);
    assertPrivateScratch(link);
  });

  it('refuses a folder others may write', () => {
    const open = path.join(root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    unsafe(open, /writable by others \(mode 777\)/);
    chmodSync(open, 0o1777);
    unsafe(open, /writable by others/);
    // group-writable: harmless for our own group, not for another's
    chmodSync(open, 0o775);
    assertPrivateScratch(open);
    chownSync(open, process.getuid?.() ?? 0, NOBODY);
    unsafe(open, /writable by others \(mode 775\)/);
  });

  it("refuses a folder, or a link, made by another user (a local user's /var/tmp/virtvault)", () => {
    const theirs = path.join(root, 'theirs');
    mkdirSync(theirs, { mode: 0o711 });
    chownSync(theirs, NOBODY, NOBODY);
    unsafe(theirs, new RegExp(`belongs to uid ${NOBODY}`));
    const mine = path.join(root, 'mine2');
    mkdirSync(mine, { mode: 0o711 });
    chmodSync(mine, 0o711);
    const theirLink = path.join(root, 'their-link');
    symlinkSync(mine, theirLink);
    // lchown: the link itself made by someone else, pointing wherever they chose
    lchownSync(theirLink, NOBODY, NOBODY);
    unsafe(theirLink, new RegExp(`belongs to uid ${NOBODY}`));
    assert.equal(statSync(mine).uid, process.getuid?.(), 'the folder it points to is ours');
  });
});
