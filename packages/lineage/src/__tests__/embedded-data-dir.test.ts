import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import {
  findTemplate,
  installedPgliteVersion,
  partialDir,
  prepareDataDir,
  templateFile,
} from '../data-dir.js';
import { EmbeddedLineage } from '../embedded.js';
import { LineageError } from '../errors.js';

import { assertKeepsData } from './keeps-data.js';

const scratch: string[] = [];
after(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
});

async function parentDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'vv-lineage-dir-'));
  scratch.push(d);
  return d;
}

function hasCode(code: string): (e: unknown) => boolean {
  return (e) => e instanceof LineageError && e.code === code;
}

describe('embedded lineage data directory', () => {
  it('ships a template for the installed PGlite version', async () => {
    const version = await installedPgliteVersion();
    assert.ok(
      await findTemplate(),
      `missing ${templateFile(version).pathname}: run npm run make-template -w @virtvault/lineage`,
    );
  });

  it('initialises a fresh directory from the template, migrates, and keeps data across reopen', async () => {
    const parent = await parentDir();
    const dataDir = join(parent, 'lineage');
    await assertKeepsData(dataDir);
    assert.deepEqual(await readdir(parent), ['lineage']);
  });

  it('recovers from an interrupted first start: partial sibling removed, empty target filled', async () => {
    const parent = await parentDir();
    const dataDir = join(parent, 'lineage');
    const dead = partialDir(dataDir, 'killed');
    await mkdir(join(dead, 'base', '1'), { recursive: true });
    await writeFile(join(dead, 'PG_VERSION'), '17\n');
    await writeFile(join(dead, 'base', '1', '1255'), Buffer.alloc(100));
    await mkdir(dataDir);
    await assertKeepsData(dataDir);
    assert.deepEqual(await readdir(parent), ['lineage']);
  });

  it('refuses a non-empty directory that holds no database and leaves it as it was', async () => {
    const parent = await parentDir();
    const dataDir = join(parent, 'lineage');
    await mkdir(join(dataDir, 'base'), { recursive: true });
    await writeFile(join(dataDir, 'note'), 'mine');
    await assert.rejects(EmbeddedLineage.open({ dataDir }), hasCode('DATA_DIR_INVALID'));
    assert.deepEqual((await readdir(dataDir)).sort(), ['base', 'note']);
    assert.equal(await readFile(join(dataDir, 'note'), 'utf8'), 'mine');
  });

  it('publishes nothing from a truncated template', async () => {
    const parent = await parentDir();
    const template = await findTemplate();
    assert.ok(template);
    const cut = join(parent, 'cut.tar.gz');
    await writeFile(cut, (await readFile(template)).subarray(0, 1024 * 1024));
    const dataDir = join(parent, 'lineage');
    await assert.rejects(
      prepareDataDir(dataDir, { template: new URL(`file://${cut}`) }),
      hasCode('DATA_DIR_INIT_FAILED'),
    );
    assert.deepEqual(await readdir(parent), ['cut.tar.gz']);
  });

  it('without a template, initialises in a child process', async () => {
    const parent = await parentDir();
    const dataDir = join(parent, 'lineage');
    await prepareDataDir(dataDir, { template: null });
    assert.deepEqual(await readdir(parent), ['lineage']);
    await assertKeepsData(dataDir);
  });
});
