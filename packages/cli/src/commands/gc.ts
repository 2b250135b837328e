/** `virtvault gc`: remove chunks no snapshot uses and leftovers of aborted backups. */
import type { Command } from 'commander';

import type { CliContext } from '../context.js';
import { loadRepo } from '../lazy.js';
import { formatBytes, guard, printJson } from '../output.js';
import { openRepository } from '../repo-access.js';

interface Options {
  repo: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Registers `gc`. */
export function registerGc(program: Command, ctx: () => CliContext): void {
  program
    .command('gc')
    .description('remove unreferenced chunks and aborted snapshots (safe beside running backups)')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Chunks younger than the oldest running backup or restore (its lease) are never removed.

Examples:
  virtvault gc --repo /backups --dry-run
  virtvault prune --repo /backups --keep-daily 7 && virtvault gc --repo /backups`,
    )
    .action((o: Options) => run(ctx(), o));
}

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    const { collectGarbage, gcIncomplete } = await loadRepo();
    const repo = await openRepository(o.repo);
    try {
      const r = await collectGarbage(repo, {
        dryRun: o.dryRun === true,
        host: ctx.env.hostname,
        signal: ctx.signal,
      });
      const incomplete = gcIncomplete(r);
      if (incomplete !== null) {
        // nothing swept: the report still tells what was done, and the exit code that it is not all
        ctx.exitCode = 1;
        ctx.stderr.write(`virtvault: REPO_GC_INCOMPLETE: ${incomplete}\n`);
      }
      if (o.json) {
        // a failure under --json carries "error", as every command's does (section 7)
        const error =
          incomplete === null ? {} : { error: { code: 'REPO_GC_INCOMPLETE', message: incomplete } };
        printJson(ctx, { ...r, ...error });
        return;
      }
      const verb = o.dryRun ? 'would remove' : 'removed';
      // quarantined chunks exist only after a verify found damage: named only then
      const bad = r.removedBad > 0 ? `, ${r.removedBad} quarantined (.bad) chunks` : '';
      ctx.stdout.write(
        `${r.marked} chunks in use; ${verb} ${r.swept} chunks (${formatBytes(r.sweptBytes)})` +
          `${bad} and ${r.removedSnapshots.length} aborted snapshots\n`,
      );
    } finally {
      await repo.close();
    }
  });
}
