/** `virtvault snapshots`: the committed snapshots of a repository. */
import type { Command } from 'commander';

import { consistencyOf } from '@virtvault/core';

import type { CliContext } from '../context.js';
import { errorFields, formatBytes, formatTable, guard, printJson } from '../output.js';
import { listSnapshots, openRepository, type SnapshotList } from '../repo-access.js';

interface Options {
  repo: string;
  domain?: string;
  json?: boolean;
}

/** Registers `snapshots`. */
export function registerSnapshots(program: Command, ctx: () => CliContext): void {
  program
    .command('snapshots')
    .description('list the snapshots of a repository, oldest first')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--domain <name|uuid>', 'only this domain')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      '\nEvery snapshot restores on its own: incrementals and differentials are logically full.',
    )
    .action((o: Options) => run(ctx(), o));
}

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    const repo = await openRepository(o.repo);
    try {
      const found = await listSnapshots(repo, o.domain);
      if (o.json) {
        printJson(ctx, snapshotsJson(found));
        return;
      }
      ctx.stdout.write(
        formatTable(
          ['SNAPSHOT', 'DOMAIN', 'LEVEL', 'CONSISTENCY', 'TIME', 'NEW', 'VERIFY', 'REASONS'],
          tableRows(found),
        ),
      );
      if (o.domain !== undefined && found.entries.length === 0 && found.damaged.length === 0) {
        // an empty list is an answer (no backup yet), but a typo should not look like one
        ctx.stderr.write(`virtvault: no snapshots of domain ${o.domain} in ${repo.root}\n`);
      }
      for (const d of found.damaged) {
        ctx.stderr.write(
          `virtvault: snapshot ${d.domain}/${d.id} is damaged: ${d.error.message}\n`,
        );
      }
    } finally {
      await repo.close();
    }
  });
}

/** The `--json` document: damaged snapshots apart, each good one with its disks. */
function snapshotsJson({ entries, damaged }: SnapshotList): unknown {
  return {
    damaged: damaged.map((d) => ({ domain: d.domain, id: d.id, error: errorFields(d.error) })),
    snapshots: entries.map(({ manifest: m, verify }) => ({
      id: m.id,
      domain: m.domain,
      host: m.host,
      level: m.level,
      consistency: consistencyOf(m),
      reasons: m.reasons,
      parent: m.parent,
      checkpoint: m.checkpoint?.name ?? null,
      startedAt: m.startedAt,
      endedAt: m.endedAt,
      verify,
      disks: m.disks.map((d) => ({
        target: d.target,
        virtualSize: d.virtualSize,
        bytesRead: d.bytesRead,
        bytesNew: d.bytesNew,
      })),
    })),
  };
}

/** The table's rows, oldest first; a damaged snapshot shows where it would be. */
function tableRows({ entries, damaged }: SnapshotList): string[][] {
  const rows = entries.map(({ manifest: m, verify }) => [
    m.id,
    m.domain.name,
    m.level,
    consistencyOf(m),
    m.endedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    formatBytes(m.disks.reduce((n, d) => n + d.bytesNew, 0)),
    verify,
    m.reasons.join(',') || '-',
  ]);
  // ids are ULIDs, in time order
  for (const d of damaged) {
    const at = rows.findIndex((r) => (r[0] ?? '') > d.id);
    const row = [d.id, d.domain, '?', '?', '?', '?', 'DAMAGED', d.error.code];
    rows.splice(at < 0 ? rows.length : at, 0, row);
  }
  return rows;
}
