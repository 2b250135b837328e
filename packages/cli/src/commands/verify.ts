/** `virtvault verify`: re-read chunks and check digests; the result is recorded per snapshot. */
import type { DamagedSnapshot, VerifyReport } from '@virtvault/repo';
import type { Command } from 'commander';

import type { CliContext } from '../context.js';
import { loadRepo } from '../lazy.js';
import { CliError, EXIT_FAILED, guard, printJson } from '../output.js';
import { findSnapshot, openRepository } from '../repo-access.js';

interface Options {
  repo: string;
  domain?: string;
  snapshot?: string;
  json?: boolean;
}

/** Registers `verify`. */
export function registerVerify(program: Command, ctx: () => CliContext): void {
  program
    .command('verify')
    .description('re-read every chunk of a repository (or one snapshot) and check its digest')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--domain <name|uuid>', 'only this domain')
    .option('--snapshot <id|latest>', 'only this snapshot (needs --domain)')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Exit code 1 when anything failed (REPO_VERIFY_FAILED; with --json the report carries
"error": {"code", "message"}). Each snapshot's result is written into its folder
(verify.json); a snapshot that failed is never used as the parent of an incremental.

Examples:
  virtvault verify --repo /backups
  virtvault verify --repo /backups --domain web1 --snapshot latest --json`,
    )
    .action((o: Options) => run(ctx(), o));
}

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    if (o.snapshot !== undefined && o.domain === undefined) {
      // ids are per domain: without one, the whole repository was verified and the id ignored
      throw new CliError('USAGE', '--snapshot needs --domain (snapshot ids are per domain)');
    }
    const { verifyRepository } = await loadRepo();
    const repo = await openRepository(o.repo);
    try {
      let domain: string | undefined;
      let snapshot: string | undefined;
      const newerDamaged: DamagedSnapshot[] = [];
      if (o.domain !== undefined) {
        const m = await findSnapshot(repo, o.domain, o.snapshot ?? 'latest', (d) =>
          newerDamaged.push(d),
        );
        domain = m.domain.uuid;
        snapshot = o.snapshot !== undefined ? m.id : undefined;
      }
      const report = await verifyRepository(repo, {
        ...(domain ? { domain } : {}),
        ...(snapshot ? { snapshot } : {}),
        signal: ctx.signal,
      });
      if (snapshot !== undefined) {
        // `latest` is the newest readable snapshot: a newer one whose manifest is damaged is the
        // newest backup, lost, and a check of "the newest backup" must fail for it
        failDamaged(report, newerDamaged, ctx.now());
      }
      const snaps = Object.entries(report.snapshots);
      const failed = snaps.filter(([, r]) => r.status === 'failed');
      const problem = report.ok
        ? null
        : `${failed.length} of ${snaps.length} snapshots failed, ` +
          `${report.chunks.length} chunks damaged or missing`;
      if (problem !== null) {
        // the report is still printed, and the failure named by its code as every failure is
        ctx.exitCode = EXIT_FAILED;
        ctx.stderr.write(`virtvault: REPO_VERIFY_FAILED: ${problem}\n`);
      }
      if (o.json) {
        const error =
          problem === null ? {} : { error: { code: 'REPO_VERIFY_FAILED', message: problem } };
        printJson(ctx, { ...report, ...error });
        return;
      }
      ctx.stdout.write(
        `verified ${snaps.length} snapshots, ${report.chunksChecked} chunks: ` +
          `${report.ok ? 'all good' : `${failed.length} snapshots FAILED`}\n`,
      );
      for (const c of report.chunks) {
        ctx.stdout.write(`  chunk ${c.digest}: ${c.code} (${c.message})\n`);
        ctx.stdout.write(`    used by: ${c.snapshots.join(', ')}\n`);
      }
      // a snapshot's own faults (its manifest, its index, a chunk named where it cannot fit)
      const chunkFaults = new Set(report.chunks.map((c) => c.digest));
      for (const [key, r] of failed) {
        for (const p of r.problems.filter(
          (x) => x.digest === undefined || !chunkFaults.has(x.digest),
        )) {
          ctx.stdout.write(`  snapshot ${key}: ${p.code} (${p.message})\n`);
        }
      }
    } finally {
      await repo.close();
    }
  });
}

/** Adds snapshots whose manifests are damaged to `report` as failed ones. */
function failDamaged(report: VerifyReport, damaged: readonly DamagedSnapshot[], now: number): void {
  for (const d of damaged) {
    report.ok = false;
    report.snapshots[`${d.domain}/${d.id}`] = {
      format: 'virtvault-verify',
      version: 1,
      status: 'failed',
      checkedAt: new Date(now).toISOString(),
      problems: [{ code: d.error.code, message: d.error.message }],
    };
  }
}
