/** `virtvault forget`: remove one snapshot by hand (a damaged one, say). */
import type { Command } from 'commander';

import type { CliContext } from '../context.js';
import { loadRepo } from '../lazy.js';
import { CliError, guard, printJson } from '../output.js';
import { listSnapshots, openRepository } from '../repo-access.js';

interface Options {
  repo: string;
  domain: string;
  snapshot: string;
  json?: boolean;
}

/** Registers `forget`. */
export function registerForget(program: Command, ctx: () => CliContext): void {
  program
    .command('forget')
    .description('remove one snapshot from a repository (damaged ones too)')
    .requiredOption('--repo <dir>', 'repository directory')
    .requiredOption('--domain <name|uuid>', 'the backed-up domain')
    .requiredOption('--snapshot <id>', 'the snapshot to remove (an id; never "latest")')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
For what 'virtvault verify' found damaged, or what stops 'virtvault gc' (an index it cannot
read). Every other snapshot stays whole: each restores on its own. The chunks no snapshot uses
any more are freed by the next 'virtvault gc'. When the snapshot was the newest of its domain,
the next backup of the domain is a full (PARENT_SNAPSHOT_UNUSABLE). A snapshot a running backup
builds on is refused (REPO_LOCKED).`,
    )
    .action((o: Options) => run(ctx(), o));
}

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    if (o.snapshot === 'latest') {
      // removing by hand is for one snapshot known by its id; "latest" moves as backups run
      throw new CliError(
        'USAGE',
        "--snapshot needs a snapshot's id, never latest (ids: virtvault snapshots --domain NAME)",
      );
    }
    const { removeSnapshot } = await loadRepo();
    const repo = await openRepository(o.repo);
    try {
      const { entries, damaged } = await listSnapshots(repo, o.domain);
      const uuid =
        entries.find((e) => e.manifest.id === o.snapshot)?.manifest.domain.uuid ??
        damaged.find((d) => d.id === o.snapshot)?.domain;
      if (uuid === undefined) {
        throw new CliError(
          'SNAPSHOT_NOT_FOUND',
          `domain ${o.domain} has no snapshot ${o.snapshot}`,
          1,
        );
      }
      if (ctx.signal.aborted) {
        throw new CliError('REPO_INTERRUPTED', 'forget interrupted: nothing was removed', 1);
      }
      await removeSnapshot(repo, uuid, o.snapshot);
      if (o.json) {
        printJson(ctx, { removed: `${uuid}/${o.snapshot}` });
        return;
      }
      ctx.stdout.write(
        `removed snapshot ${o.snapshot} of ${o.domain}; 'virtvault gc' frees its chunks\n`,
      );
    } finally {
      await repo.close();
    }
  });
}
