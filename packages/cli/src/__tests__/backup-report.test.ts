import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { reportDomainFailure, reportMany } from '../commands/backup-report.js';
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

  it('names the domains --all left to another host, and does not count them failed', () => {
    const { ctx, out } = capture();
    const skipped = { without: ['cdrom-only'], inUse: ['migrated'] };
    reportMany(ctx, false, [], skipped, 1500);
    assert.equal(ctx.exitCode, 0);
    assert.deepEqual(out, [
      '0 domains in 1.5 s: 0 backed up, 0 failed\n',
      '  skipped, no disk to back up: cdrom-only\n',
      '  skipped, disks in use by another process (running elsewhere?): migrated\n',
    ]);
    const json = capture();
    reportMany(json.ctx, true, [], skipped, 1500);
    const doc = JSON.parse(json.out.join('')) as Record<string, unknown>;
    assert.deepEqual(
      [doc['skipped'], doc['inUseElsewhere'], doc['failed']],
      [['cdrom-only'], ['migrated'], 0],
    );
  });
});
