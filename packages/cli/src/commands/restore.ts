/** `virtvault restore`: a snapshot's disks as qcow2 or sparse raw files, every chunk checked. */
import path from 'node:path';

import type { Command } from 'commander';

import type { SnapshotManifest } from '@virtvault/core';
import type { RestoredDisk, RestoreFormat } from '@virtvault/engine';
import type { Repository } from '@virtvault/repo';

import type { CliContext } from '../context.js';
import { loadEngine } from '../lazy.js';
import { CliError, formatBytes, guard, printJson } from '../output.js';
import { Progress } from '../progress.js';
import { findSnapshot, openRepository } from '../repo-access.js';

interface Options {
  repo: string;
  domain: string;
  snapshot: string;
  output: string;
  format: string;
  disk?: string[];
  define?: string;
  connect: string;
  json?: boolean;
}

/** Registers `restore`. */
export function registerRestore(program: Command, ctx: () => CliContext): void {
  program
    .command('restore')
    .description("write a snapshot's disks into a directory, checking every chunk's digest")
    .requiredOption('--repo <dir>', 'repository directory')
    .requiredOption(
      '--domain <name|uuid>',
      'the backed-up domain (its UUID where VMs of one name on several hosts share the repository)',
    )
    .option('--snapshot <id|latest>', 'snapshot to restore', 'latest')
    .requiredOption(
      '--output <dir>',
      'directory for the disks (<target>.<format>); never overwritten',
    )
    .option('--format <qcow2|raw>', 'image format of the restored disks', 'qcow2')
    .option('--disk <target...>', 'only these disks (default: all)')
    .option(
      '--define <new-name>',
      'also define a domain with the restored disks (new uuid and MACs)',
    )
    .option('--connect <uri>', 'libvirt URI for --define', 'qemu:///system')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Examples:
  virtvault restore --repo /backups --domain web1 --output /var/tmp/web1-restored
  virtvault restore --repo /backups --domain web1 --snapshot 01M886WS8038NKRKAYDXR834G3 \\
      --format raw --output /srv/restore

Snapshot ids are the 26-character ids 'virtvault snapshots --repo DIR --domain NAME' lists.

Nothing is overwritten: an output file that exists already, or a --define name in use, stops the
restore before its first byte (RESTORE_TARGET_EXISTS); so does a --disk the snapshot lacks
(RESTORE_DISK_UNKNOWN). A corrupt or missing chunk stops the restore with REPO_CHUNK_CORRUPT /
REPO_CHUNK_MISSING naming the chunk; the partly written disk is removed. Disks are written in
<output>/.restoring-XXXXXX/ and get their names only once every disk is complete: a restore
killed outright leaves that folder (remove it), never a partial disk under a good one's name.

The domain --define makes never touches the original's: it gets a new uuid, MACs, VM generation
id and UEFI variable store (from the template), no SMBIOS uuid, and only the restored disks plus
read-only ones (cdroms); a writable disk left out with --disk is left out of the copy too.`,
    )
    .action((o: Options) => run(ctx(), o));
}

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    if (o.format !== 'qcow2' && o.format !== 'raw') {
      throw new CliError('USAGE', `--format must be qcow2 or raw, not ${o.format}`);
    }
    const repo = await openRepository(o.repo);
    try {
      const done = await restore(ctx, o, o.format, repo);
      if (o.json) {
        printJson(ctx, restoredJson(done));
      } else {
        printRestored(ctx, done);
      }
    } finally {
      await repo.close();
    }
  });
}

/** What a restore did. */
interface Restored {
  manifest: SnapshotManifest;
  disks: RestoredDisk[];
  defined: { name: string; uuid: string; changes: readonly string[] } | null;
  durationMs: number;
}

/** Restores the chosen snapshot's disks (and defines the domain with `--define`). */
async function restore(
  ctx: CliContext,
  o: Options,
  format: RestoreFormat,
  repo: Repository,
): Promise<Restored> {
  const { assertDomainNameFree, defineRestoredDomain, restoreSnapshot } = await loadEngine();
  const manifest = await findSnapshot(repo, o.domain, o.snapshot, (d) => {
    // latest is the newest snapshot that can be read: say which newer ones could not
    ctx.stderr.write(`virtvault: skipping damaged snapshot ${d.id}: ${d.error.message}\n`);
  });
  if (o.define !== undefined) {
    await assertDomainNameFree(o.connect, o.define);
  }
  const progress = new Progress(ctx, 'written', o.json === true);
  const started = ctx.now();
  let defined: Restored['defined'] = null;
  const name = o.define;
  const disks = await restoreSnapshot({
    repo,
    domainUuid: manifest.domain.uuid,
    snapshotId: manifest.id,
    // absolute: a domain --define makes names its disks by these paths, which libvirt and QEMU
    // would resolve against their own working folder
    outputDir: path.resolve(o.output),
    format,
    ...(o.disk ? { disks: o.disk } : {}),
    // through the disk, holes included: a sparse disk's bar still ends at 100 %
    onProgress: (p) => progress.update(p.target, p.position, p.virtualSize),
    signal: ctx.signal,
    // inside the restore: a refused definition removes the disks, so the command can run again
    ...(name !== undefined
      ? {
          complete: async (written, m) => {
            let changes: readonly string[] = [];
            const uuid = await defineRestoredDomain(o.connect, m.domainXml, name, written, (c) => {
              changes = c;
            });
            defined = { name, uuid, changes };
          },
        }
      : {}),
  }).finally(() => progress.done()); // a failure's message then starts on a line of its own
  return { manifest, disks, defined, durationMs: ctx.now() - started };
}

/** The `--json` document. */
function restoredJson({ manifest, disks, defined, durationMs }: Restored): unknown {
  return {
    defined,
    snapshot: manifest.id,
    domain: manifest.domain,
    level: manifest.level,
    disks: disks.map((d) => ({
      target: d.target,
      path: d.path,
      format: d.format,
      virtualSize: d.virtualSize,
      bytesWritten: d.bytesWritten,
    })),
    durationMs,
  };
}

/** The text report: each disk's file, and the domain defined. */
function printRestored(ctx: CliContext, { manifest, disks, defined }: Restored): void {
  const { name, uuid } = manifest.domain;
  ctx.stdout.write(
    `restored snapshot ${manifest.id} of ${name} (${uuid}, host ${manifest.host}):\n`,
  );
  for (const d of disks) {
    ctx.stdout.write(`  ${d.target}: ${d.path} (${formatBytes(d.virtualSize)})\n`);
  }
  if (defined !== null) {
    ctx.stdout.write(`defined domain ${defined.name} (${defined.uuid}) with the restored disks\n`);
    // what the copy does not share with the original: to check before starting it
    for (const c of defined.changes) {
      ctx.stdout.write(`  ${c}\n`);
    }
  }
}
