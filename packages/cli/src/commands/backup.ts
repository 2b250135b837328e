/** `virtvault backup`: backups of domains on this host (standalone mode), one after another. */
import path from 'node:path';

import type { Command } from 'commander';

import { hasErrorCode, runBackup, type LevelPolicy, type RequestedLevel } from '@virtvault/core';

import { closeAll } from '../close-all.js';
import type { CliContext } from '../context.js';
import { DeferredLineage } from '../deferred-lineage.js';
import { loadEngine } from '../lazy.js';
import { ulid } from '../ids.js';
import { CliError, guard } from '../output.js';
import { PhaseClock } from '../phases.js';
import { Progress } from '../progress.js';
import { PlanHintFiles } from '../plan-hints.js';
import { openLineage, RepositoryCache } from '../standalone.js';
import { wholeNumber } from '../whole-number.js';

import {
  reportBackup,
  reportDomainFailure,
  reportMany,
  type BackupDone,
  type DomainOutcome,
} from './backup-report.js';

/** Options shared by the commands that touch libvirt and the lineage. */
export interface HostOptions {
  connect: string;
  host?: string;
  state: string;
  scratch: string;
}

interface Options extends HostOptions {
  domain?: string[];
  all?: boolean;
  repo: string;
  level: string;
  maxChain?: string;
  quiesce?: boolean;
  json?: boolean;
}

const LEVELS: Record<string, RequestedLevel> = {
  auto: 'auto',
  full: 'full',
  inc: 'incremental',
  incremental: 'incremental',
  diff: 'differential',
  differential: 'differential',
};

/** Adds --connect, --state and --scratch. */
export function hostOptions(cmd: Command): Command {
  return cmd
    .option('--connect <uri>', 'libvirt URI', 'qemu:///system')
    .option('--host <name>', "this host's name in the lineage (default: the system host name)")
    .option('--state <dir>', 'state directory (embedded lineage)', '/var/lib/virtvault')
    .option(
      '--scratch <dir>',
      "directory for NBD sockets and scratch files (short path; QEMU's user must reach it; " +
        'room for what a running guest writes during its backup: below 256 MiB free it is ' +
        'refused, SCRATCH_NO_SPACE)',
      '/var/tmp/virtvault',
    );
}

/** Registers `backup`. */
export function registerBackup(program: Command, ctx: () => CliContext): void {
  const cmd = hostOptions(
    program
      .command('backup')
      .description('back up every disk of running or stopped domains into a repository')
      .option(
        '--domain <name|uuid>',
        'the domain; repeat it to back up several, one after another',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option('--all', 'every domain of this host with a disk to back up, one after another')
      .requiredOption(
        '--repo <dir>',
        'repository directory (a missing or empty one is made when the backup starts)',
      ),
  );
  levelOptions(cmd)
    .option(
      '--quiesce',
      "freeze the guest's filesystems (QEMU guest agent) while the backup starts; " +
        'without an agent the backup is crash-consistent and says why',
    )
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Levels: auto takes an incremental when the chain is healthy and a full otherwise, with the reason
(NO_PARENT, BITMAP_MISSING, BITMAP_INCONSISTENT, DISKS_CHANGED, ...). A checkpoint whose libvirt
metadata vanished (transient domain re-created, migration) is redefined from the lineage and the
chain continues (CHECKPOINT_REDEFINED). 'virtvault doctor' shows what the next run will do and why.

Consistency: 'filesystem' when --quiesce froze the guest through its agent, else 'crash' (as after
a power cut). A stopped domain is backed up as 'crash' (as consistent as its last shutdown), and
it cannot be started while its disks are read (the start fails on QEMU's image lock).

Scratch: while a running domain is backed up, QEMU keeps the old content of every block the guest
overwrites in --scratch; once that is full the guest's own writes fail. So a backup is refused
when the folder has less than 256 MiB free (SCRATCH_NO_SPACE), and warns when it has less than the
disks hold. 'virtvault doctor' shows the folder's room.

JSON: with one --domain, --json prints {"snapshot", "domain": {"uuid", "name"}, "host", "level",
"consistency", "notes", "plannedLevel", "reasons", "checkpoint", "parent", "attempts",
"earlyStart", "runId", "disks": [{"target", "bytesRead", "bytesNew"}], "cleanupFailures",
"durationMs", "phases"}; a failure is {"error": {"code", "message"}}.

Several domains (--domain repeated, or --all): backed up one after another; a failure is reported
on stderr and the next domain goes on; exit code 1 when any failed. --json prints {"runs":
[{"domain", "ok", "backup" (the document above) or "error"}], "failed", "skipped",
"inUseElsewhere", "durationMs"}. --all skips a stopped domain whose disks another process holds
(DISK_IN_USE: it migrated and runs on another host) and names it; it is not a failure.
A Ctrl-C stops the domain being backed up (cleaned up) and starts no other.

Time: the report says where the time went (--json: "phases", adding up to "durationMs"): prepare
(lineage, libvirt, planning), job start (backup job and NBD export), copy (reading and storing),
commit (making the chunks durable, index and manifest), finish (job end, lineage record).

Examples:
  virtvault backup --domain web1 --repo /backups
  virtvault backup --domain web1 --repo /backups --level full --json
  virtvault backup --all --repo /backups          # nightly, every VM of this host`,
    )
    .action((o: Options) => run(ctx(), o));
}

/** The level --level names (`inc` and `diff` for short). Throws `USAGE` on a bad value. */
export function levelOf(o: { level: string }): RequestedLevel {
  // own keys only: `toString` or `__proto__` are no levels
  const level = Object.hasOwn(LEVELS, o.level) ? LEVELS[o.level] : undefined;
  if (level === undefined) {
    throw new CliError('USAGE', `--level must be auto, full, inc or diff, not ${o.level}`);
  }
  return level;
}

/** Adds --level and --max-chain: what `backup` runs and what `doctor` plans as. */
export function levelOptions(cmd: Command): Command {
  return cmd
    .option('--level <auto|full|inc|diff>', 'backup level; auto continues the chain', 'auto')
    .option(
      '--max-chain <n>',
      'with auto: a full after n snapshots since the last full (default: no limit)',
    );
}

/** The level policy of --level and --max-chain. Throws `USAGE` on a bad value. */
export function levelPolicyOf(o: { level: string; maxChain?: string }): LevelPolicy {
  const level = levelOf(o);
  const maxChain = wholeNumber(o.maxChain, 'max-chain', 0);
  return { level, ...(maxChain !== undefined ? { maxChainLength: maxChain } : {}) };
}

/**
 * Loads the engine, opens the repository (a new one is made by the backup itself, see
 * `RepositoryCache.prepare`) and connects to libvirt.
 */
async function openEngine(ctx: CliContext, o: Options, repos: RepositoryCache) {
  const { Executor, openHypervisor } = await loadEngine();
  // opening a repository is file work, connecting to libvirt a round trip: both at once
  const created = repos.prepare(o.repo);
  created.catch(() => undefined);
  const hv = await openHypervisor(o.connect, o.host ?? ctx.env.hostname, {
    scratchDir: o.scratch,
  });
  try {
    await created;
  } catch (e) {
    await hv.close();
    throw e;
  }
  return { Executor, hv };
}

/** What every backup of one `virtvault backup` shares. */
interface Shared {
  ctx: CliContext;
  o: Options;
  level: RequestedLevel;
  maxChain: number | undefined;
  hv: Awaited<ReturnType<typeof openEngine>>['hv'];
  Executor: Awaited<ReturnType<typeof openEngine>>['Executor'];
  repos: RepositoryCache;
  lineage: DeferredLineage;
  hints: ReturnType<typeof planHints>;
}

/** The ports of one run: the executor reports into this domain's progress, notes and clock. */
function runDeps(sh: Shared, progress: Progress, notes: string[], clock: PhaseClock) {
  const { ctx, o, repos } = sh;
  return {
    hypervisor: sh.hv.hypervisor,
    executor: new sh.Executor({
      hypervisor: sh.hv.hypervisor,
      openRepository: (p) => repos.get(p),
      scratchDir: o.scratch,
      toolVersion: ctx.version,
      now: ctx.now,
      onProgress: (p) => progress.update(p.target, p.bytesRead, p.bytesToRead),
      signal: ctx.signal,
      onNote: (n) => notes.push(n),
      onPhase: (p) => clock.mark(p),
    }),
    lineage: sh.lineage,
    manifests: repos,
    clock: { now: ctx.now },
    ids: { next: () => ulid(ctx.now()) },
    ...(sh.hints !== null ? { planHints: sh.hints.files } : {}),
  };
}

/** Backs one domain up; `started` is when its time began (the command's start for the first). */
async function backupOne(sh: Shared, domain: string, started: number): Promise<BackupDone> {
  const { ctx, o } = sh;
  const progress = new Progress(ctx, 'read', o.json === true);
  const notes: string[] = [];
  const clock = new PhaseClock(ctx.now);
  const policy = {
    level: sh.level,
    ...(sh.maxChain !== undefined ? { maxChainLength: sh.maxChain } : {}),
  };
  let result: Awaited<ReturnType<typeof runBackup>>;
  try {
    result = await runBackup(runDeps(sh, progress, notes, clock), {
      domain,
      repository: path.resolve(o.repo),
      policy,
      ...(o.quiesce === true ? { quiesce: true } : {}),
      // the embedded lineage is ours alone (state lock): a run still marked running there
      // belongs to a process that died; a shared Postgres waits for the lease to lapse
      staleRunAfterMs: ctx.env.databaseUrl === undefined ? 0 : 10 * 60_000,
    });
  } finally {
    // a failed domain's bar ends its line too: what follows starts a new one
    progress.done();
  }
  const ended = ctx.now();
  return { result, notes, durationMs: ended - started, phases: clock.phases(started, ended) };
}

/** The domains of a run over several: each in turn, and which of them to skip. */
interface ManyDomains {
  /** Domains to back up, in order. */
  names: string[];
  /** Domains with no disk to back up. */
  without: string[];
  /** `--all`: a domain whose disks another process holds is skipped, not failed. */
  all: boolean;
}

/**
 * Backs up each domain in turn: a failure is reported and the next goes on; an interruption
 * (SIGINT, SIGTERM) stops the run after the current domain's clean-up. Under `--all`, a stopped
 * domain whose disks another process holds (`DISK_IN_USE`: it migrated and runs on another host,
 * which backs it up) is skipped: a nightly `--all` on the host it left failed every night.
 */
async function backupMany(sh: Shared, many: ManyDomains, started: number) {
  const { ctx, o } = sh;
  const outcomes: DomainOutcome[] = [];
  const inUse: string[] = [];
  for (const [i, domain] of many.names.entries()) {
    if (ctx.signal.aborted) {
      const error = new CliError('BACKUP_INTERRUPTED', 'not started: interrupted', 1);
      outcomes.push({ domain, ok: false, error });
      continue;
    }
    try {
      const done = await backupOne(sh, domain, i === 0 ? started : ctx.now());
      outcomes.push({ domain, ok: true, done });
      if (o.json !== true) {
        reportBackup(ctx, false, done);
      }
    } catch (error) {
      if (many.all && hasErrorCode(error, 'DISK_IN_USE')) {
        inUse.push(domain);
        continue;
      }
      outcomes.push({ domain, ok: false, error });
      if (o.json !== true) {
        reportDomainFailure(ctx, domain, error);
      }
    }
  }
  const skipped = { without: many.without, inUse };
  reportMany(ctx, o.json === true, outcomes, skipped, ctx.now() - started);
}

/** The domains named (`--domain`, repeatable), or null for `--all`; a usage error otherwise. */
function domainsOf(o: Options): string[] | null {
  const named = o.domain ?? [];
  if (o.all === true && named.length > 0) {
    throw new CliError('USAGE', '--all and --domain exclude each other');
  }
  if (o.all !== true && named.length === 0) {
    throw new CliError('USAGE', 'name the domain (--domain NAME, repeatable) or give --all');
  }
  return o.all === true ? null : [...new Set(named)];
}

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    const policy = levelPolicyOf(o);
    const level = policy.level;
    const maxChain = policy.maxChainLength;
    const named = domainsOf(o);
    const started = ctx.now();
    // Opened first, alongside loading the engine and asking libvirt about the domain: PGlite
    // compiles on background threads meanwhile. Its errors surface at its first use, or below.
    const hints = planHints(ctx, o.state);
    const opening = openLineage(ctx, o.state, hints?.onLocked);
    // a lock never taken (the open failed) lets the hint's reader go on, without a hint
    opening.catch(() => hints?.onLockFailed());
    const repos = new RepositoryCache();
    const { Executor, hv } = await openEngine(ctx, o, repos).catch(async (e: unknown) => {
      await (await opening.catch(() => null))?.close();
      await repos.close();
      throw e;
    });
    const lineage = new DeferredLineage(opening.then((l) => l.store));
    const sh: Shared = { ctx, o, level, maxChain, hv, Executor, repos, lineage, hints };
    try {
      if (named?.length === 1) {
        reportBackup(ctx, o.json === true, await backupOne(sh, named[0] as string, started));
      } else {
        const all = named === null ? await hv.hypervisor.backupDomains() : null;
        const many = { names: all?.names ?? named ?? [], without: all?.without ?? [] };
        await backupMany(sh, { ...many, all: all !== null }, started);
      }
    } finally {
      await closeAll(
        () => hv.close(),
        async () => (await opening.catch(() => null))?.close(),
        () => repos.close(),
      );
    }
  });
}

/**
 * Plan hints of the embedded lineage, or null with `DATABASE_URL`: runs sharing a Postgres may
 * run on other hosts, and only a state lock of our own makes an early start safe.
 */
function planHints(ctx: CliContext, stateDir: string) {
  if (ctx.env.databaseUrl !== undefined) {
    return null;
  }
  let onLocked = (): void => undefined;
  let onLockFailed = (): void => undefined;
  const locked = new Promise<void>((resolve, reject) => {
    onLocked = resolve;
    onLockFailed = () => reject(new CliError('STATE_LOCKED', 'state directory not locked'));
  });
  locked.catch(() => undefined);
  return { files: new PlanHintFiles(stateDir, locked), onLocked, onLockFailed };
}
