import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { syncFilesystem, syncfsMethod } from '../syncfs.js';
import { tempDir } from './helpers.js';

describe('syncfs of the filesystem holding a folder', () => {
  it('runs through the addon the install built, not a child process', () => {
    assert.equal(syncfsMethod(), 'addon');
  });

  it('flushes a folder with a new file in it', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      writeFileSync(path.join(dir, 'f'), 'x'.repeat(10_000));
      assert.equal(await syncFilesystem(dir), true);
    } finally {
      await cleanup();
    }
  });

  it('reports a folder that cannot be opened as not synced, for the caller to fall back', async () => {
    assert.equal(await syncFilesystem('/nonexistent/virtvault-syncfs-test'), false);
  });
});
