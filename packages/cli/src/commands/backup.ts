/** `virtvault backup`: one backup of one domain on this host (standalone mode). */
import type { Command } from 'commander';

import {
  consistencyOf,
  explainReason,
  runBackup,
  type RequestedLevel,
  type RunBackupResult,
} from '@virtvault/core';

import { closeAll } from '../close-all.js';
import type { CliContext } from '../context.js';
import { DeferredLineage } from '../deferred-lineage.js';
import { loadEngine } from '../lazy.js';
import { ulid } from '../ids.js';
import { CliError, formatBytes, guard, printJson } from '../output.js';
import { describePhases, PhaseClock, type BackupPhases } from '../phases.js';
import { Progress } from '../progress.js';
import { PlanHintFiles } from '../plan-hints.js';
import { openLineage, RepositoryCache } from '../standalone.js';

/** Options shared by the commands that touch libvirt and the lineage. */
export interface HostOptions {
  connect: string;
  host?: string;
  state: string;
  scratch: string;
}

interface Options extends HostOptions {
  domain: string;
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
      "directory for NBD sockets and scratch files (short path; QEMU's user must reach it)",
      '/var/tmp/virtvault',
    );
}

/** Registers `backup`. */
export function registerBackup(program: Command, ctx: () => CliContext): void {
  hostOptions(
    program
      .command('backup')
      .description('back up every disk of a running or stopped domain into a repository')
      .requiredOption('--domain <name|uuid>', 'the domain')
      .requiredOption('--repo <dir>', 'repository directory (created when missing or empty)')
      .option('--level <auto|full|inc|diff>', 'backup level; auto continues the chain', 'auto')
      .option('--max-chain <n>', 'with auto: a full after n snapshots since the last full')
      .option(
        '--quiesce',
        "freeze the guest's filesystems (QEMU guest agent) while the backup starts; " +
          'without an agent the backup is crash-consistent and says why',
      ),
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

Time: the report says where the time went (--json: "phases", adding up to "durationMs"): prepare
(lineage, libvirt, planning), job start (backup job and NBD export), copy (reading and storing),
commit (making the chunks durable, index and manifest), finish (job end, lineage record).

Examples:
  virtvault backup --domain web1 --repo /backups
  virtvault backup --domain web1 --repo /backups --level full --json`,
    )
    .action((o: Options) => run(ctx(), o));
}

function levelOf(o: Options): RequestedLevel {
  const level = LEVELS[o.level];
  if (level === undefined) {
    throw new CliError('USAGE', `--level must be auto, full, inc or diff, not ${o.level}`);
  }
  return level;
}

/** Loads the engine, opens (creating) the repository and connects to libvirt. */
async function openEngine(ctx: CliContext, o: Options, repos: RepositoryCache) {
  const { Executor, openHypervisor } = await loadEngine();
  // creating a repository is file work, connecting to libvirt a round trip: both at once
  const created = repos.get(o.repo, true);
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

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    const level = levelOf(o);
    const maxChain = o.maxChain === undefined ? undefined : Number(o.maxChain);
    if (maxChain !== undefined && (!Number.isInteger(maxChain) || maxChain < 0)) {
      throw new CliError('USAGE', `--max-chain needs a whole number, not ${o.maxChain}`);
    }
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
    const progress = new Progress(ctx, 'read', o.json === true);
    const notes: string[] = [];
    const clock = new PhaseClock(ctx.now);
    try {
      const result = await runBackup(
        {
          hypervisor: hv.hypervisor,
          executor: new Executor({
            hypervisor: hv.hypervisor,
            openRepository: (p) => repos.get(p),
            scratchDir: o.scratch,
            toolVersion: ctx.version,
            now: ctx.now,
            onProgress: (p) => progress.update(p.target, p.bytesRead, p.bytesToRead),
            signal: ctx.signal,
            onNote: (n) => notes.push(n),
            onPhase: (p) => clock.mark(p),
          }),
          lineage: new DeferredLineage(opening.then((l) => l.store)),
          manifests: repos,
          clock: { now: ctx.now },
          ids: { next: () => ulid(ctx.now()) },
          ...(hints !== null ? { planHints: hints.files } : {}),
        },
        {
          domain: o.domain,
          repository: (await repos.get(o.repo)).root,
          policy: { level, ...(maxChain !== undefined ? { maxChainLength: maxChain } : {}) },
          ...(o.quiesce === true ? { quiesce: true } : {}),
          // the embedded lineage is ours alone (state lock): a run still marked running there
          // belongs to a process that died; a shared Postgres waits for the lease to lapse
          staleRunAfterMs: ctx.env.databaseUrl === undefined ? 0 : 10 * 60_000,
        },
      );
      progress.done();
      const ended = ctx.now();
      report(ctx, o, result, notes, ended - started, clock.phases(started, ended));
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

function report(
  ctx: CliContext,
  o: Options,
  r: RunBackupResult,
  notes: string[],
  durationMs: number,
  phases: BackupPhases | null,
): void {
  const m = r.manifest;
  const doc = {
    snapshot: m.id,
    domain: m.domain,
    host: m.host,
    level: m.level,
    consistency: consistencyOf(m),
    notes,
    plannedLevel: r.plannedLevel,
    reasons: m.reasons,
    checkpoint: m.checkpoint?.name ?? null,
    parent: m.parent,
    attempts: r.attempts,
    earlyStart: r.earlyStart,
    runId: r.runId,
    disks: m.disks.map((d) => ({ target: d.target, bytesRead: d.bytesRead, bytesNew: d.bytesNew })),
    cleanupFailures: r.cleanupFailures,
    durationMs,
    ...(phases === null ? {} : { phases }),
  };
  if (o.json) {
    printJson(ctx, doc);
    return;
  }
  ctx.stdout.write(
    `${m.level} backup ${m.id} of ${m.domain.name} done in ${(durationMs / 1000).toFixed(1)} s\n`,
  );
  ctx.stdout.write(`  consistency: ${consistencyOf(m)}\n`);
  if (phases !== null) {
    ctx.stdout.write(`  time: ${describePhases(phases)}\n`);
  }
  for (const n of notes) {
    ctx.stdout.write(`  note: ${n}\n`);
  }
  for (const code of m.reasons) {
    ctx.stdout.write(
      `  reason ${code}: ${explainReason(code as Parameters<typeof explainReason>[0])}\n`,
    );
  }
  for (const d of m.disks) {
    ctx.stdout.write(
      `  ${d.target}: read ${formatBytes(d.bytesRead)}, new ${formatBytes(d.bytesNew)}\n`,
    );
  }
  for (const f of r.cleanupFailures) {
    ctx.stdout.write(`  warning: clean-up failed: ${f}\n`);
  }
}
