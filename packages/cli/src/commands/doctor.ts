/**
 * `virtvault doctor`: the chain as the planner sees it — libvirt's checkpoints, each disk's
 * bitmaps with their flags, the lineage's view — and what the next backup will do and why.
 * `--fix` cleans up broken and orphaned checkpoints and bitmaps of ours, never another tool's.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import type { LibvirtHypervisor } from '@virtvault/engine';
import type { Repository } from '@virtvault/repo';

import {
  explainReason,
  fallbackToFull,
  isLineageConcern,
  isOwnCheckpoint,
  planBackup,
  reconcileNotes,
  withReconcileNotes,
  type BackupPlan,
  type DomainLineage,
  type LineageStore,
  type ObservedDomain,
  withVerifyResults,
} from '@virtvault/core';

import { closeAll } from '../close-all.js';
import type { CliContext } from '../context.js';
import { CliError, errorFields, formatBytes, guard, printJson } from '../output.js';
import { loadEngine } from '../lazy.js';
import { openLineage, RepositoryCache } from '../standalone.js';

import { hostOptions, levelOptions, levelPolicyOf, type HostOptions } from './backup.js';
import {
  cleanupLines,
  DOCTOR_FIX_INCOMPLETE,
  DOCTOR_INTERRUPTED,
  fix,
  fixIncomplete,
  type FixAction,
  recordFix,
  takenActions,
} from './doctor-fix.js';

interface Options extends HostOptions {
  domain: string;
  repo: string;
  level: string;
  maxChain?: string;
  fix?: boolean;
  json?: boolean;
}

/** Registers `doctor`. */
export function registerDoctor(program: Command, ctx: () => CliContext): void {
  levelOptions(
    hostOptions(
      program
        .command('doctor')
        .description("show a domain's checkpoint chain and what the next backup will do, and why")
        .requiredOption('--domain <name|uuid>', 'the domain')
        .requiredOption(
          '--repo <dir>',
          'the repository the next backup goes to (one not made yet is read as empty)',
        ),
    ),
  )
    .option('--fix', 'clean up broken and orphaned checkpoints and bitmaps of ours')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
The reason codes are the ones the next 'virtvault backup' records when given the same --level and
--max-chain. Checkpoints and bitmaps whose names do not start with vv- belong to other tools: they
are listed and never touched. Like a backup, doctor first brings the lineage in line with the
repository's manifests (a crash between the two commits): such a repair is shown and recorded
under SNAPSHOT_RECONCILED, and the next backup then has nothing left to repair. A repository not
made yet is read as empty and left unmade: doctor then shows the full the first backup takes.

--fix: each clean-up action is reported done or FAILED; when any failed, the exit code is 1
(DOCTOR_FIX_INCOMPLETE; with --json, "error" beside the report and each failed action's "error"
with its code and message).`,
    )
    .action((o: Options) => run(ctx(), o));
}

/** The marker after a checkpoint or bitmap name that is not this lineage's concern. */
function whose(name: string, lineage: DomainLineage): string {
  if (!isOwnCheckpoint(name)) {
    return '  [other tool]';
  }
  return isLineageConcern(name, lineage) ? '' : '  [other virtvault lineage]';
}

/** The scratch folder's room as the next backup of a running domain will find it. */
interface ScratchReport {
  /** The folder. */
  dir: string;
  /** Free bytes there. */
  free: number;
  /** Bytes the disks' images hold (top images and backing files), null when unknown. */
  held: number | null;
  /** Why the next backup will be refused (`SCRATCH_NO_SPACE`, `SCRATCH_UNSAFE`), or null. */
  problem: { code: string; message: string } | null;
  /** The warning the next backup will carry, or null. */
  note: string | null;
}

/** The scratch report for a running domain; null for a stopped one (no scratch images). */
async function scratchReport(
  hv: LibvirtHypervisor,
  dir: string,
  observed: ObservedDomain,
): Promise<ScratchReport | null> {
  if (observed.domain.state === 'shut-off') {
    return null;
  }
  const { assertPrivateScratch, scratchVerdict } = await loadEngine();
  // the backup's own measure: top images and their backing files
  const targets = observed.disks.map((d) => d.target);
  const room = await hv.scratchRoom(observed.domain.uuid, targets, dir);
  try {
    // a folder still to be made is made the backup's own; one there already must be safe
    if (existsSync(dir)) {
      assertPrivateScratch(dir);
    }
    return { ...room, problem: null, note: scratchVerdict(room) };
  } catch (e) {
    const { code, message } = errorFields(e);
    const problem = { code, message };
    return { ...room, problem, note: null };
  }
}

function printScratch(w: (s: string) => void, s: ScratchReport | null): void {
  if (s === null) {
    return;
  }
  const held = s.held === null ? 'unknown' : formatBytes(s.held);
  w(`
scratch folder ${s.dir}: ${formatBytes(s.free)} free, the disks hold ${held}`);
  if (s.problem !== null) {
    w(`  the next backup will be refused: ${s.problem.code}: ${s.problem.message}`);
  } else if (s.note !== null) {
    w(`  ${s.note}`);
  }
}

/** What doctor found, for the text report. */
interface Findings {
  /** The repository's path, and whether it exists yet (the first backup makes it). */
  repository: { path: string; exists: boolean };
  observed: ObservedDomain;
  lineage: DomainLineage;
  plan: BackupPlan;
  fixed: FixAction[] | null;
  scratch: ScratchReport | null;
}

/** Writes one line of the text report. */
type Line = (s: string) => void;

function printText(ctx: CliContext, f: Findings): void {
  const w: Line = (s) => ctx.stdout.write(`${s}\n`);
  const d = f.observed.domain;
  w(
    `domain ${d.name} (${d.uuid}) on ${f.observed.host}: ${d.state}${d.transient ? ', transient' : ''}`,
  );
  printHost(w, f.observed, f.lineage);
  if (!f.repository.exists) {
    w(`\nrepository ${f.repository.path}: not made yet (the next backup makes it)`);
  }
  printLineage(w, f.lineage);
  printPlan(w, f.plan, f.fixed);
  printScratch(w, f.scratch);
}

/** libvirt's checkpoints, and each disk's bitmaps with their flags, naming whose they are. */
function printHost(w: Line, observed: ObservedDomain, lineage: DomainLineage): void {
  w('\nlibvirt checkpoints on this host:');
  for (const c of observed.checkpoints) {
    w(`  ${c.name}${c.parent ? ` (parent ${c.parent})` : ''}${whose(c.name, lineage)}`);
  }
  if (observed.checkpoints.length === 0) {
    w('  none');
  }
  w('\nbitmaps:');
  for (const disk of observed.disks) {
    w(
      `  ${disk.target} (${disk.format}, ${disk.source})${disk.bitmapsSupported ? '' : ': cannot hold bitmaps'}`,
    );
    for (const b of disk.bitmaps) {
      const flags = [
        b.recording ? 'recording' : 'NOT recording',
        b.persistent ? 'persistent' : 'not persistent',
        ...(b.inconsistent ? ['INCONSISTENT'] : []),
        ...(b.busy ? ['busy'] : []),
      ];
      w(`    ${b.name}: ${flags.join(', ')}${whose(b.name, lineage)}`);
    }
  }
}

/** The lineage's last snapshots and checkpoints. */
function printLineage(w: Line, lineage: DomainLineage): void {
  const owner = lineage.owner !== undefined ? ` ${lineage.owner}` : '';
  w(`\nlineage${owner}: ${lineage.snapshots.length} snapshots in this repository`);
  for (const s of lineage.snapshots.slice(-5)) {
    w(`  ${s.id} ${s.level} on ${s.host}, checkpoint ${s.checkpoint ?? '-'}, verify ${s.verify}`);
  }
  for (const c of lineage.checkpoints.filter((x) => x.state !== 'deleted').slice(-5)) {
    w(`  checkpoint ${c.name}: ${c.state}${c.stateReason ? ` (${c.stateReason})` : ''}`);
  }
  for (const u of lineage.unconfirmed ?? []) {
    const mine = u.repository === lineage.repository;
    w(
      `  checkpoint ${u.name}: made by a run of ${mine ? 'this repository' : u.repository} ` +
        `whose end the lineage never recorded${mine ? '' : ' (kept for that repository)'}`,
    );
  }
}

/** What the next run will do and why, and what `--fix` did. */
function printPlan(w: Line, plan: BackupPlan, fixed: FixAction[] | null): void {
  w(
    `\nnext backup: ${plan.level}${plan.parentSnapshot ? ` on top of ${plan.parentSnapshot}` : ''}`,
  );
  for (const code of plan.reasons) {
    w(`  ${code}: ${explainReason(code)}`);
  }
  for (const det of plan.details) {
    w(`  - ${det.message}`);
  }
  for (const r of plan.redefine) {
    w(`  will redefine checkpoint ${r.checkpoint} from the lineage`);
  }
  cleanupLines(plan, fixed).forEach(w);
}

/**
 * The plan as the run will carry it out: over a parent whose manifest or index the repository
 * cannot give, the run's incremental fails before writing and is retried as a full.
 */
async function readableParent(
  repo: Repository,
  observed: ObservedDomain,
  plan: BackupPlan,
): Promise<BackupPlan> {
  if (plan.parentSnapshot === null) {
    return plan;
  }
  const { parentProblem } = await loadEngine();
  const problem = await parentProblem(repo, observed.domain.uuid, plan.parentSnapshot);
  return problem === null
    ? plan
    : fallbackToFull(plan, observed, 'PARENT_SNAPSHOT_UNUSABLE', problem);
}

/** Prints the findings; a `--fix` with failed actions is exit 1 with its code, as gc does. */
function report(ctx: CliContext, json: boolean, f: Findings): void {
  const incomplete = fixIncomplete(f.fixed);
  if (incomplete !== null) {
    // the report is still printed; the code names what is wrong, as every failure is named
    ctx.exitCode = 1;
    ctx.stderr.write(`virtvault: ${DOCTOR_FIX_INCOMPLETE}: ${incomplete}\n`);
  }
  if (!json) {
    printText(ctx, f);
    return;
  }
  const checkpoints = f.lineage.checkpoints.map(({ xml: _x, ...c }) => c);
  const error =
    incomplete === null ? {} : { error: { code: DOCTOR_FIX_INCOMPLETE, message: incomplete } };
  printJson(ctx, { ...f, lineage: { ...f.lineage, checkpoints }, ...error });
}

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    levelPolicyOf(o); // a bad --level or --max-chain is a usage error before anything opens
    const repos = new RepositoryCache();
    const lineage = await openLineage(ctx, o.state);
    // with our jobs' folder: a backup running now is reported, never "fixed" under its feet
    const hv = await (
      await loadEngine()
    )
      .openHypervisor(o.connect, o.host ?? ctx.env.hostname, { scratchDir: o.scratch })
      .catch(async (e: unknown) => {
        // the open lineage would keep the process, and the state's lock, alive for an hour
        await closeAll(
          () => lineage.close(),
          () => repos.close(),
        );
        throw e;
      });
    try {
      report(ctx, o.json === true, await diagnose(ctx, o, hv.hypervisor, lineage.store, repos));
    } finally {
      await closeAll(
        () => hv.close(),
        () => lineage.close(),
        () => repos.close(),
      );
    }
  });
}

/**
 * Reconciles the lineage with the repository as a backup run would, plans the next run, and with
 * `--fix` carries out its clean-up.
 */
async function diagnose(
  ctx: CliContext,
  o: Options,
  hv: LibvirtHypervisor,
  store: LineageStore,
  repos: RepositoryCache,
): Promise<Findings> {
  // a repository not made yet reads as empty, as the first backup finds it, and stays unmade
  const repo = await repos.find(o.repo);
  const root = repo?.root ?? path.resolve(o.repo);
  const observed = await hv.observe(o.domain);
  const domain = { uuid: observed.domain.uuid, name: observed.domain.name };
  const manifests = await repos.listManifests(root, domain.uuid);
  const notes = reconcileNotes(await store.reconcile(root, domain.uuid, manifests, ctx.now()));
  for (const message of notes) {
    // recorded as a run records it: the repair is doctor's, the next run will not see it
    const at = ctx.now();
    await store.recordEvent({
      domainUuid: domain.uuid,
      runId: null,
      at,
      kind: 'snapshot-reconciled',
      message,
    });
  }
  const lineage = withVerifyResults(
    await store.loadLineage(root, domain),
    await repos.verifyResults(root, domain.uuid),
  );
  const planned = withReconcileNotes(
    planBackup(lineage, observed, levelPolicyOf(o), ctx.now()),
    notes,
  );
  const plan = repo === null ? planned : await readableParent(repo, observed, planned);
  if (ctx.signal.aborted) {
    throw new CliError(DOCTOR_INTERRUPTED, 'interrupted: nothing was changed', 1);
  }
  const fixed = o.fix ? await fix(hv, domain.uuid, plan, ctx.signal) : null;
  if (fixed !== null) {
    await recordFix(store, domain.uuid, plan, fixed, ctx.now());
  }
  if (ctx.signal.aborted) {
    // what was done is recorded; the rest is the next backup's (or doctor's) to do
    const taken = takenActions(fixed ?? []).length;
    const done = `${taken} clean-up actions taken, recorded in the lineage; the rest not taken`;
    throw new CliError(DOCTOR_INTERRUPTED, `interrupted: ${done}`, 1);
  }
  const scratch = await scratchReport(hv, o.scratch, observed);
  const repository = { path: root, exists: repo !== null };
  return { repository, observed, lineage, plan, fixed, scratch };
}
