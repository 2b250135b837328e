import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { reportDomainFailure } from '../commands/backup-report.js';
import type { CliContext } from '../context.js';
import { CliError } from '../output.js';

/** A context whose streams are kept as text. */
function capture(): { ctx: CliContext; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    version: 'test',
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t) },
    env: { noColor: true, hostname: 'h' },
    now: () => 0,
    signal: new AbortController().signal,
    exitCode: 0,
  };
  return { ctx, out, err };
}

describe('backup of several domains', () => {
  it("writes a failed domain's line on stderr, as a single domain's failure", () => {
    const { ctx, out, err } = capture();
    reportDomainFailure(ctx, 'web2', new CliError('DOMAIN_NOT_FOUND', 'no domain web2', 1));
    assert.deepEqual(out, []);
    assert.deepEqual(err, ['backup of web2 FAILED: DOMAIN_NOT_FOUND: no domain web2\n']);
  });
});
