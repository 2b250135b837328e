import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { CliContext } from '../context.js';
import { Progress } from '../progress.js';

const MiB = 1024 * 1024;

/** A context whose clock the test moves and whose stderr it reads. */
function context(tty: boolean): { ctx: CliContext; err: string[]; at: (ms: number) => void } {
  let now = 1_000_000;
  const err: string[] = [];
  const ctx: CliContext = {
    version: 'test',
    stdout: { write: () => true },
    stderr: { write: (t: string) => err.push(t), isTTY: tty },
    env: { noColor: false, hostname: 'h' },
    now: () => now,
    signal: new AbortController().signal,
    exitCode: 0,
  };
  return { ctx, err, at: (ms) => (now = 1_000_000 + ms) };
}

describe('progress', () => {
  it('gives a rate and ETA only once they mean something, then counts from the first report', () => {
    const { ctx, err, at } = context(false);
    const p = new Progress(ctx, 'read', false);
    // the first report already has bytes done (the copy reports once its plan is complete)
    p.update('vda', 16 * MiB, 160 * MiB);
    at(1000);
    p.update('vda', 48 * MiB, 160 * MiB);
    at(2000);
    p.update('vda', 160 * MiB, 160 * MiB);
    assert.deepEqual(err, [
      'vda: 10% 16.0 MiB/160.0 MiB read\n',
      'vda: 30% 48.0 MiB/160.0 MiB read, 32.0 MiB/s, ETA 4s\n',
      'vda: 100% 160.0 MiB/160.0 MiB read, 72.0 MiB/s, ETA 0s\n',
    ]);
  });

  it('prints nothing with --json, and one bar line per redraw on a terminal', () => {
    const quiet = context(false);
    const p = new Progress(quiet.ctx, 'read', true);
    p.update('vda', 1, 2);
    p.done();
    assert.deepEqual(quiet.err, []);
    const tty = context(true);
    const bar = new Progress(tty.ctx, 'written', false);
    bar.update('vda', 0, 4 * MiB);
    tty.at(500);
    bar.update('vda', 4 * MiB, 4 * MiB);
    bar.done();
    assert.equal(tty.err.length, 3);
    assert.match(
      tty.err[1] ?? '',
      /vda \[#{20}\] 100% 4\.0 MiB\/4\.0 MiB written, 8\.0 MiB\/s, ETA 0s/,
    );
    assert.equal(tty.err[2], '\n');
  });
});
