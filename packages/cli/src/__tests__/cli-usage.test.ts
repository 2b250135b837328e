import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { repoWithSnapshots } from './repo-fixture.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fleet command against a port nothing listens on: a usage error proves nothing was sent. */
const FLEET = ['fleet', '--controller', 'http://127.0.0.1:9', '--token', 't'];

describe('values checked before any work', () => {
  it('refuses bad values with USAGE and exit 2, in text and in --json', () => {
    const cases: [string[], RegExp][] = [
      [
        ['prune', '--repo', '/nonexistent', '--keep-last', '1', '--time-zone', 'Mars/Olympus'],
        /--time-zone Mars\/Olympus is no IANA time zone/,
      ],
      [
        [
          'prune',
          '--repo',
          '/nonexistent',
          '--keep-last',
          '1',
          '--tz',
          'UTC',
          '--time-zone',
          'CET',
        ],
        /--tz is --time-zone by another name/,
      ],
      [
        ['forget', '--repo', '/nonexistent', '--domain', 'vm1', '--snapshot', 'latest'],
        /never latest/,
      ],
      [[...FLEET, 'hosts', 'add', 'h', 'h:7443', '--max-concurrent', '0'], /--max-concurrent/],
      [[...FLEET, 'hosts', 'add', 'h', 'h:7443', '--max-concurrent', 'two'], /--max-concurrent/],
      [[...FLEET, 'hosts', 'add', 'h', 'h:7443', '--max-concurrent', '1.5'], /--max-concurrent/],
      [[...FLEET, 'runs', '--limit', '0'], /--limit needs a whole number >= 1/],
      // an unset shell variable, a blank, hex: never read as 0 or a number
      [
        ['prune', '--repo', '/nonexistent', '--keep-last', '1', '--keep-daily', ''],
        /--keep-daily needs a whole number >= 0, not ""/,
      ],
      [['prune', '--repo', '/nonexistent', '--keep-last', ' '], /--keep-last needs a whole/],
      [['backup', '--domain', 'x', '--repo', '/nonexistent', '--max-chain', ''], /--max-chain/],
      [['backup', '--domain', 'x', '--repo', '/nonexistent', '--max-chain', '0x7'], /--max-chain/],
      [[...FLEET, 'policies', 'set', 'p', '--keep-daily', ''], /--keep-daily needs a whole/],
      [[...FLEET, 'runs', '--limit', ' 5'], /--limit needs a whole number >= 1/],
      [[...FLEET, 'runs', '--vm', 'a', '--domain', 'b'], /same filter/],
      [[...FLEET, 'tokens', 'create', 'ci', '--role', 'root'], /--role must be one of viewer/],
      [
        [...FLEET, 'tokens', 'create', 'ci', '--role', 'viewer', '--expires-in-days', '-1'],
        /--expires-in-days needs a positive number, not "-1"/,
      ],
      // hex, exponents, Infinity: never read as 16, 1000 or forever
      [
        [...FLEET, 'tokens', 'create', 'ci', '--role', 'viewer', '--expires-in-days', '0x10'],
        /--expires-in-days needs a positive number/,
      ],
      [
        [...FLEET, 'tokens', 'create', 'ci', '--role', 'viewer', '--expires-in-days', '1e3'],
        /--expires-in-days needs a positive number/,
      ],
      [[...FLEET, 'policies', 'set', 'p', '--rpo-hours', 'Infinity'], /--rpo-hours needs a pos/],
      [[...FLEET, 'policies', 'set', 'p', '--level', 'weekly'], /--level must be auto, full/],
      // a name every object has is no level
      [[...FLEET, 'policies', 'set', 'p', '--level', 'toString'], /--level must be auto, full/],
      [
        ['backup', '--domain', 'x', '--repo', '/nonexistent', '--level', '__proto__'],
        /--level must be auto, full/,
      ],
    ];
    for (const [args, message] of cases) {
      const text = run(...args);
      assert.equal(text.code, 2, `${args.join(' ')}: ${text.stderr}`);
      assert.match(text.stderr, /^virtvault: USAGE: /m, args.join(' '));
      assert.match(text.stderr, message, args.join(' '));
      const json = run(...args, '--json');
      assert.equal(json.code, 2, args.join(' '));
      const out = JSON.parse(json.stdout) as { error: { code: string; message: string } };
      assert.equal(out.error.code, 'USAGE');
      assert.match(out.error.message, message);
    }
  });

  it('takes --tz as --time-zone in prune', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-prune-tz-'));
    dirs.push(dir);
    await repoWithSnapshots(dir, [{ id: 's1', startedAt: '2025-01-01T00:00:00.000Z' }]);
    const r = run('prune', '--repo', dir, '--keep-daily', '1', '--tz', 'Europe/Berlin', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { kept: { snapshot: string }[]; removed: string[] };
    assert.equal(out.kept.length, 1);
    assert.deepEqual(out.removed, []);
  });
});

describe('help texts', () => {
  it('backup: every "below" it points to is there (JSON and SCRATCH_NO_SPACE)', () => {
    const r = run('backup', '--help');
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stdout, /as below|SCRATCH_NO_SPACE below/);
    assert.match(r.stdout, /^JSON: with one --domain, --json prints \{"snapshot"/m);
    assert.match(r.stdout, /^Scratch: .*\n(.*\n)*.*\(SCRATCH_NO_SPACE\)/m);
    assert.doesNotMatch(run('doctor', '--help').stdout, /below\)/);
  });

  it('restore: a snapshot id as snapshots lists them (26-character ULIDs)', () => {
    const r = run('restore', '--help');
    assert.match(r.stdout, /--snapshot [0-9A-HJKMNP-TV-Z]{26} /);
    assert.match(r.stdout, /virtvault snapshots/);
  });

  it('every command: required options marked, its exit codes, inherited options shown', () => {
    for (const cmd of [['snapshots'], ['verify'], ['prune'], ['gc'], ['restore'], ['doctor']]) {
      const r = run(...cmd, '--help');
      assert.equal(r.code, 0, cmd.join(' '));
      assert.match(r.stdout, /--repo <dir> [^\n]*(\n {20,}[^\n]*)*\(required\)/, cmd.join(' '));
      assert.match(r.stdout, /^Exit codes: 0 success, 1 failed .*\n.*2 usage error, 130 /m);
    }
    const fleet = run('fleet', 'hosts', 'add', '--help');
    assert.match(fleet.stdout, /--controller <url>/);
    assert.match(fleet.stdout, /--token <token>/);
    assert.match(run('prune', '--help').stdout, /^Examples:\n {2}virtvault prune --repo /m);
  });

  it('fleet policies set: an example, the required options and the retention rule', () => {
    const r = run('fleet', 'policies', 'set', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--cron <expr> +required: /);
    assert.match(r.stdout, /--repository <name> +required: /);
    assert.match(r.stdout, /needs a schedule \(--cron\) and a repository \(--repository\)/);
    assert.match(r.stdout, /at least one --keep-\* rule above 0/);
    assert.match(r.stdout, /^Example:\n {2}virtvault fleet policies set nightly /m);
  });
});

describe('a system call refused', () => {
  it('is IO_ERROR, the errno and path in its message: no raw errno as the stable code', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-io-'));
    dirs.push(dir);
    await repoWithSnapshots(path.join(dir, 'repo'), [
      { id: 's1', startedAt: '2025-01-01T00:00:00.000Z' },
    ]);
    // a regular file where the output folder's parent should be: ENOTDIR (as root, no EACCES)
    writeFileSync(path.join(dir, 'file'), '');
    const out = path.join(dir, 'file', 'out');
    const args = ['restore', '--repo', path.join(dir, 'repo'), '--domain', 'vm1', '--output', out];
    const r = run(...args, '--json');
    assert.equal(r.code, 1, r.stderr);
    const e = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, 'IO_ERROR');
    assert.match(e.message, /ENOTDIR/);
    assert.ok(e.message.includes(path.join(dir, 'file')), e.message);
  });
});
