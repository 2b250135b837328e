import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { DOMAIN, filesUnder, repoWithSnapshots } from './repo-fixture.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('virtvault binary', () => {
  it('prints its version', () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const r = run('--version');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it('prints help that explains the tool and its exit codes', () => {
    const r = run('--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: virtvault/m);
    assert.match(r.stdout, /libvirt\/KVM/);
    assert.match(r.stdout, /Exit codes:/);
    assert.match(r.stdout, /^ {2}agent +run the agent of this host/m);
  });

  it("answers the agent's --help with its usage, exit 0; an unknown option is exit 2", () => {
    const help = run('agent', '--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: virtvault agent --config FILE/);
    assert.match(help.stdout, /SIGTERM/);
    const bad = run('agent', '--bogus');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown argument: --bogus/);
  });

  it('rejects a policy file that is not a policy object, or not YAML, with exit 2', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-'));
    try {
      const file = (name: string, text: string): string => {
        writeFileSync(path.join(dir, name), text);
        return path.join(dir, name);
      };
      const fleet = ['fleet', '--controller', 'http://127.0.0.1:9', '--token', 't'];
      const set = (f: string) => run(...fleet, 'policies', 'set', 'nightly', '--file', f);
      let r = set(file('scalar.yaml', '42\n'));
      assert.equal(r.code, 2);
      assert.match(r.stderr, /USAGE: .*scalar\.yaml does not hold a policy object/);
      r = set(file('broken.yaml', 'selector:\n  nameGlob: x\nlevel: [\n'));
      assert.equal(r.code, 2);
      assert.match(r.stderr, /USAGE: .*broken\.yaml is not valid YAML or JSON: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 on an unknown option', () => {
    const r = run('--no-such-option');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option/);
    assert.equal(r.stdout, '');
  });

  it('reports a usage error as JSON on stdout when --json was asked for', () => {
    for (const args of [
      ['no-such-command', '--json'],
      ['snapshots', '--json'],
      ['verify', '--repo', '/nonexistent', '--snapshot', 'NOPE', '--json'],
      // a typo after `controller` is no argument of the daemon's
      ['controller', 'tokens', 'list', '--json'],
    ]) {
      const r = run(...args);
      assert.equal(r.code, 2, args.join(' '));
      const out = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      assert.equal(out.error.code, 'USAGE');
      assert.match(
        out.error.message,
        /unknown command '(no-such-command|tokens)'|required option '--repo|--snapshot needs --domain/,
      );
    }
  });

  it('a --state that is a file: STATE_UNWRITABLE saying so, not "run as root"', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-state-'));
    try {
      const file = path.join(dir, 'afile');
      writeFileSync(file, '');
      const r = run(
        'doctor',
        '--domain',
        'vm1',
        '--repo',
        `${dir}/repo`,
        '--state',
        file,
        '--json',
      );
      const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'STATE_UNWRITABLE', r.stdout);
      assert.match(err.message, /--state must be a folder/);
      assert.doesNotMatch(err.message, /run as root/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('doctor with libvirt unreachable: exits at once with its code and frees the state', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-doctor-'));
    try {
      const state = path.join(dir, 'state');
      const uri = `qemu+unix:///system?socket=${dir}/no-libvirt.sock`;
      const args = ['doctor', '--domain', 'vm1', '--repo', `${dir}/repo`, '--state', state];
      // a hang is the defect: the lineage it had opened kept the process (and the lock) alive
      const r = spawnSync(process.execPath, [MAIN, ...args, '--connect', uri, '--json'], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.signal, null, 'exited by itself, not killed by the timeout');
      assert.equal(r.status, 1, r.stdout + r.stderr);
      const err = (JSON.parse(r.stdout) as { error: { code: string } }).error;
      assert.equal(err.code, 'LIBVIRT_CONNECT_FAILED', 'our code, as backup and the agent say it');
      assert.equal(existsSync(path.join(state, 'state.lock')), false, 'the state lock is released');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gc --json beside an index it cannot read: exit 1 and an "error" with its code', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-gc-'));
    try {
      await repoWithSnapshots(dir, [{ id: 's1', startedAt: '2025-01-01T00:00:00.000Z' }]);
      const index = path.join(dir, 'snapshots', DOMAIN.uuid, 's1', 'vda.index');
      writeFileSync(index, readFileSync(index).subarray(0, 20));
      const r = run('gc', '--repo', dir, '--json');
      assert.equal(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout) as { error?: { code: string }; swept: number };
      assert.equal(out.error?.code, 'REPO_GC_INCOMPLETE');
      assert.equal(out.swept, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a domain name two UUIDs carry is DOMAIN_AMBIGUOUS (exit 2), never the newest of either', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-ambiguous-'));
    const other = { uuid: '99999999-8888-7777-6666-555555555555', name: DOMAIN.name };
    try {
      // two hosts' VMs of one name back up into one repository; the other host's is newer
      await repoWithSnapshots(dir, [
        { id: '01JA0000000000000000000001', startedAt: '2025-01-01T02:00:00.000Z', host: 'kvm-1' },
        {
          id: '01JA0000000000000000000002',
          startedAt: '2025-01-01T02:10:00.000Z',
          host: 'kvm-2',
          domain: other,
        },
      ]);
      const out = path.join(dir, 'out');
      for (const args of [
        ['restore', '--domain', DOMAIN.name, '--output', out, '--format', 'raw'],
        ['verify', '--domain', DOMAIN.name],
        ['prune', '--domain', DOMAIN.name, '--keep-last', '1'],
        ['forget', '--domain', DOMAIN.name, '--snapshot', '01JA0000000000000000000001'],
        ['snapshots', '--domain', DOMAIN.name],
      ]) {
        const r = run(...args, '--repo', dir);
        assert.equal(r.code, 2, `${args[0] ?? ''}: ${r.stderr}`);
        assert.match(r.stderr, /DOMAIN_AMBIGUOUS: 2 domains named vm1/, args[0]);
        assert.ok(r.stderr.includes(DOMAIN.uuid) && r.stderr.includes(other.uuid), r.stderr);
      }
      assert.ok(!existsSync(out), 'nothing restored');
      // by UUID, each is found
      const ok = run(
        'restore',
        '--domain',
        other.uuid,
        '--output',
        out,
        '--format',
        'raw',
        '--repo',
        dir,
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(readFileSync(path.join(out, 'vda.raw'))[0], 2, "the other host's VM's disk");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a damaged verify.json lists its snapshot unverified, the others as recorded', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-verifyjson-'));
    try {
      await repoWithSnapshots(dir, [
        { id: 's1', startedAt: '2025-01-01T00:00:00.000Z' },
        { id: 's2', startedAt: '2025-01-02T00:00:00.000Z' },
      ]);
      assert.equal(run('verify', '--repo', dir).code, 0);
      writeFileSync(path.join(dir, 'snapshots', DOMAIN.uuid, 's1', 'verify.json'), '{not json');
      const r = run('snapshots', '--repo', dir, '--json');
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as { snapshots: { id: string; verify: string }[] };
      assert.deepEqual(
        doc.snapshots.map((x) => [x.id, x.verify]),
        [
          ['s1', 'unverified'],
          ['s2', 'ok'],
        ],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('verify --snapshot latest fails when the newest snapshot is damaged, not the one before it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-verifylatest-'));
    try {
      await repoWithSnapshots(dir, [
        { id: 's1', startedAt: '2025-01-01T00:00:00.000Z' },
        { id: 's2', startedAt: '2025-01-02T00:00:00.000Z' },
      ]);
      const latest = ['verify', '--repo', dir, '--domain', 'vm1', '--snapshot', 'latest'];
      assert.equal(run(...latest).code, 0, 'both sound: the newest verifies');
      writeFileSync(path.join(dir, 'snapshots', DOMAIN.uuid, 's2', 'manifest.json'), '{broken');
      const r = run(...latest, '--json');
      assert.equal(r.code, 1, r.stdout);
      const out = JSON.parse(r.stdout) as {
        ok: boolean;
        error?: { code: string };
        snapshots: Record<string, { status: string; problems: { code: string }[] }>;
      };
      assert.equal(out.ok, false);
      assert.equal(out.error?.code, 'REPO_VERIFY_FAILED');
      const s2 = out.snapshots[`${DOMAIN.uuid}/s2`];
      assert.equal(s2?.status, 'failed');
      assert.equal(s2.problems[0]?.code, 'REPO_MANIFEST_INVALID');
      assert.equal(out.snapshots[`${DOMAIN.uuid}/s1`]?.status, 'ok', 'the one before is sound');
      const text = run(...latest);
      assert.equal(text.code, 1);
      assert.match(text.stdout, /1 snapshots FAILED/);
      // why, in the text too: no chunk is at fault, the snapshot's own manifest is
      assert.match(text.stdout, /snapshot 11111111-[0-9a-f-]+\/s2: REPO_MANIFEST_INVALID \(/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stdout closed early (a pipe into head) keeps the exit code of a failed verify', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-epipe-'));
    try {
      await repoWithSnapshots(dir, [{ id: 's1', startedAt: '2025-01-01T00:00:00.000Z' }]);
      for (const chunk of filesUnder(path.join(dir, 'chunks'))) {
        writeFileSync(chunk, 'not the chunk it was');
      }
      const child = spawn(process.execPath, [MAIN, 'verify', '--repo', dir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // the reader goes away before the first line: every write of the report meets EPIPE
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 1, stderr);
      assert.match(stderr, /REPO_VERIFY_FAILED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('verify over a damaged chunk: exit 1, REPO_VERIFY_FAILED on stderr and in --json', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vv-cli-verify-'));
    try {
      await repoWithSnapshots(dir, [{ id: 's1', startedAt: '2025-01-01T00:00:00.000Z' }]);
      for (const chunk of filesUnder(path.join(dir, 'chunks'))) {
        writeFileSync(chunk, 'not the chunk it was');
      }
      const r = run('verify', '--repo', dir, '--json');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^virtvault: REPO_VERIFY_FAILED: 1 of 1 snapshots failed/m);
      const out = JSON.parse(r.stdout) as { ok: boolean; error?: { code: string } };
      assert.equal(out.ok, false);
      assert.equal(out.error?.code, 'REPO_VERIFY_FAILED');
      const text = run('verify', '--repo', dir);
      assert.equal(text.code, 1);
      assert.match(text.stderr, /^virtvault: REPO_VERIFY_FAILED: /m);
      assert.match(text.stdout, /1 snapshots FAILED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
