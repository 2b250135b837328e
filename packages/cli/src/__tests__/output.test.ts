import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { CliContext } from '../context.js';
import { CliError, guard, printJson } from '../output.js';

/** A context whose stdout and stderr are strings. */
function context(): CliContext & { out: string; err: string } {
  const ctx = {
    out: '',
    err: '',
    version: 'test',
    env: {} as CliContext['env'],
    now: () => 0,
    signal: new AbortController().signal,
    exitCode: 0,
  } as unknown as CliContext & { out: string; err: string };
  ctx.stdout = { write: (s: string) => (ctx.out += s) };
  ctx.stderr = { write: (s: string) => (ctx.err += s) };
  return ctx;
}

describe('guard with --json', () => {
  it('prints a failure as the one JSON document when none was printed', async () => {
    const ctx = context();
    await guard(ctx, true, () => Promise.reject(new CliError('REPO_NOT_FOUND', 'no repo', 1)));
    assert.deepEqual(JSON.parse(ctx.out), {
      error: { code: 'REPO_NOT_FOUND', message: 'no repo' },
    });
    assert.equal(ctx.exitCode, 1);
  });

  it('keeps stdout one document when a failure comes after it (a close that failed)', async () => {
    const ctx = context();
    await guard(ctx, true, async () => {
      printJson(ctx, { snapshot: 's1' });
      await Promise.resolve();
      throw new CliError('LINEAGE_CLOSE_FAILED', 'closing the lineage failed', 1);
    });
    assert.deepEqual(JSON.parse(ctx.out), { snapshot: 's1' });
    assert.match(ctx.err, /^virtvault: LINEAGE_CLOSE_FAILED: closing the lineage failed$/m);
    assert.equal(ctx.exitCode, 1);
  });
});
