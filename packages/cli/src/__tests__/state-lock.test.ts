import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import type { CliContext } from '../context.js';
import { openLineage, startEmbedded } from '../standalone.js';
import { lockState } from '../state-lock.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vv-state-lock-'));
  dirs.push(d);
  return d;
}

/** The start time of process `pid` as /proc gives it (field 22 of its stat). */
function startTime(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? '?';
}

/** What our own lock holds: pid, boot id and start time. */
function ownLine(): string {
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return `${process.pid} ${boot} ${startTime(process.pid)}`;
}

/** A pid that no process has: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.equal(child.status, 0);
  return child.pid;
}

describe('state directory lock', () => {
  it('records its holder and is released by its unlock', () => {
    const dir = stateDir();
    const unlock = lockState(dir);
    assert.equal(readFileSync(join(dir, 'state.lock'), 'utf8'), `${ownLine()}\n`);
    unlock();
    assert.equal(existsSync(join(dir, 'state.lock')), false);
  });

  it('refuses a directory a live process holds, naming it, and leaves its lock alone', () => {
    const dir = stateDir();
    const unlock = lockState(dir);
    try {
      assert.throws(
        () => lockState(dir),
        (e: unknown) => hasErrorCode(e, 'STATE_LOCKED') && String(e).includes(`pid ${process.pid}`),
      );
      assert.equal(readFileSync(join(dir, 'state.lock'), 'utf8'), `${ownLine()}\n`);
    } finally {
      unlock();
    }
  });

  it('takes over the lock of a process that died', () => {
    const dir = stateDir();
    writeFileSync(join(dir, 'state.lock'), `${deadPid()}\n`);
    const unlock = lockState(dir);
    assert.equal(readFileSync(join(dir, 'state.lock'), 'utf8'), `${ownLine()}\n`);
    unlock();
  });

  it('tells a holder from a process that reused its pid, or one of another boot', () => {
    // a live process that is not virtvault, as a qemu given a dead holder's pid would be
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = other.pid ?? 0;
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const started = startTime(pid);
      for (const [line, stale] of [
        [`${pid} ${boot} ${started}`, false], // its own lock: it lives
        [`${pid} ${boot} 1`, true], // the pid reused: another start time
        [`${pid} 00000000-0000-0000-0000-000000000000 ${started}`, true], // before a reboot
      ] as const) {
        const dir = stateDir();
        writeFileSync(join(dir, 'state.lock'), `${line}\n`);
        if (stale) {
          lockState(dir)();
        } else {
          assert.throws(
            () => lockState(dir),
            (e: unknown) => hasErrorCode(e, 'STATE_LOCKED'),
          );
          assert.equal(readFileSync(join(dir, 'state.lock'), 'utf8'), `${line}\n`);
        }
      }
    } finally {
      other.kill('SIGKILL');
    }
  });
});

describe('state directory lock under contention', () => {
  it('an unlock leaves a lock that is no longer its own', () => {
    const dir = stateDir();
    const unlock = lockState(dir);
    writeFileSync(join(dir, 'state.lock'), '1\n'); // taken over meanwhile (pid 1 is alive)
    unlock();
    assert.equal(readFileSync(join(dir, 'state.lock'), 'utf8'), '1\n');
  });

  it("of processes starting together over a dead holder's lock, exactly one wins", async () => {
    const lockJs = new URL('../state-lock.js', import.meta.url).href;
    // each writes its outcome to a file; the winner holds the lock until every outcome is in
    // (however late a process starts on a loaded machine), then unlocks
    const script = `
      import { existsSync, writeFileSync } from 'node:fs';
      import { lockState } from ${JSON.stringify(lockJs)};
      const [dir, at] = process.argv.slice(1);
      while (Date.now() < Number(at)) {} // start together
      let out;
      let unlock = null;
      try {
        unlock = lockState(dir);
        out = 'won';
      } catch (e) {
        out = e.code ?? String(e);
      }
      writeFileSync(dir + '/out-' + process.pid, out);
      const wait = setInterval(() => {
        if (unlock === null || existsSync(dir + '/release')) {
          clearInterval(wait);
          unlock?.();
        }
      }, 20);`;
    for (let round = 0; round < 3; round++) {
      const dir = stateDir();
      writeFileSync(join(dir, 'state.lock'), `${deadPid()}\n`);
      const at = String(Date.now() + 1500);
      const runs = Array.from({ length: 6 }, () =>
        promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, dir, at]),
      );
      const outcomes = (): string[] =>
        readdirSync(dir)
          .filter((f) => f.startsWith('out-'))
          .map((f) => readFileSync(join(dir, f), 'utf8'))
          .sort();
      for (let t = 0; t < 600 && outcomes().length < 6; t++) {
        await sleep(50);
      }
      const outs = outcomes();
      writeFileSync(join(dir, 'release'), '');
      await Promise.all(runs);
      assert.deepEqual(outs, [...Array<string>(5).fill('STATE_LOCKED'), 'won'], `round ${round}`);
      assert.equal(existsSync(join(dir, 'state.lock')), false, 'the winner unlocked');
    }
  });
});

describe('embedded database thread start', () => {
  it('reports a failed start where it is awaited, not as an unhandled rejection', async () => {
    const file = join(stateDir(), 'lineage');
    writeFileSync(file, 'not a directory\n');
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const starting = startEmbedded(file);
      // the CLI awaits the start only once the lineage package has loaded: the thread fails first
      await sleep(3000);
      await assert.rejects(starting, (e: unknown) => hasErrorCode(e, 'DATA_DIR_INVALID'));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('state directory the system refuses', () => {
  it('is STATE_UNWRITABLE naming --state, never the bare errno', async () => {
    const file = join(stateDir(), 'a-file');
    writeFileSync(file, 'not a directory\n');
    const ctx = { env: { noColor: true, hostname: 'h' } } as CliContext;
    for (const dir of [file, join(file, 'state')]) {
      await assert.rejects(openLineage(ctx, dir), (e: unknown) => {
        assert.ok(hasErrorCode(e, 'STATE_UNWRITABLE'), String(e));
        assert.equal((e as { exitCode?: number }).exitCode, 1);
        assert.match((e as Error).message, /^cannot use --state .*a-file.*: E[A-Z]+: /);
        // a file, not a permission: the root hint would send a root user the wrong way
        assert.match((e as Error).message, /\(--state must be a folder virtvault can write\)$/);
        return true;
      });
    }
  });
});
