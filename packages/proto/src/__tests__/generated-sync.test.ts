import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const COMMITTED = path.join(ROOT, 'packages', 'proto', 'src', 'generated');

async function files(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(...(e.isDirectory() ? await files(p, base) : [path.relative(base, p)]));
  }
  return out.sort();
}

describe('proto: generated types are in sync with agent.proto', () => {
  let tmp = '';
  after(async () => {
    if (tmp !== '') {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('regenerates byte for byte what is committed (run npm run gen:proto after a .proto change)', async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vv-gen-sync-'));
    await run(process.execPath, [path.join(ROOT, 'scripts', 'gen-proto.mjs'), '--out', tmp], {
      cwd: ROOT,
    });
    const fresh = await files(tmp);
    assert.deepEqual(fresh, await files(COMMITTED), 'the same files');
    assert.ok(fresh.includes('agent.ts') && fresh.length > 30, `files: ${fresh.length}`);
    for (const f of fresh) {
      const want = await readFile(path.join(tmp, f));
      const have = await readFile(path.join(COMMITTED, f));
      assert.ok(want.equals(have), `${f} differs from a fresh generation`);
    }
  });

  it('gives every relative import a .js suffix (NodeNext ESM)', async () => {
    for (const f of await files(COMMITTED)) {
      const text = await readFile(path.join(COMMITTED, f), 'utf8');
      for (const m of text.matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        assert.ok(m[1]?.endsWith('.js'), `${f}: ${m[1]}`);
      }
    }
  });
});
