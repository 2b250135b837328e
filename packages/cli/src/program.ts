import { Command, Help, type Option } from 'commander';

import { registerBackup } from './commands/backup.js';
import { registerAgentHelp, registerControllerToken } from './commands/controller-token.js';
import { registerDoctor } from './commands/doctor.js';
import { registerFleet } from './commands/fleet.js';
import { registerForget } from './commands/forget.js';
import { registerGc } from './commands/gc.js';
import { registerPrune } from './commands/prune.js';
import { registerRestore } from './commands/restore.js';
import { registerSnapshots } from './commands/snapshots.js';
import { registerVerify } from './commands/verify.js';
import type { CliContext } from './context.js';

/** What `virtvault --help` says before the command list. */
const DESCRIPTION = `Backup for libvirt/KVM hosts and fleets of them.

virtvault backs up running and stopped VMs through libvirt checkpoints and
pull-mode backups, reading disks over NBD with dirty bitmaps for incrementals,
into a content-addressed repository where every snapshot restores on its own.
Broken checkpoint chains (killed qemu, transient domains, migrations) are
detected before each backup and repaired or replaced by a full, never a failed
night.`;

const EPILOG = `
Exit codes:
  0  success
  1  the operation failed (the error's code is printed, and in --json output)
  2  usage error
  130  a second SIGINT or SIGTERM: killed at once, without clean-up

Signals:
  The first SIGINT (Ctrl-C) or SIGTERM stops the command cleanly: a backup ends
  its job and drops its new checkpoint, committing nothing (BACKUP_INTERRUPTED;
  a commit already under way completes), a restore removes every file it wrote
  (RESTORE_INTERRUPTED), verify and gc stop between chunks and prune between
  snapshots (REPO_INTERRUPTED), forget removes nothing (REPO_INTERRUPTED),
  doctor --fix takes no further action (DOCTOR_INTERRUPTED; those taken are
  recorded), a fleet command drops its request (FLEET_INTERRUPTED); all exit 1. A second one exits at once (130), leaving
  what the first was cleaning up (the next run ends a stale job).

Environment:
  DATABASE_URL  Postgres for the lineage instead of the embedded store
  NO_COLOR      disable colours and progress bars
  VIRTVAULT_CONTROLLER, VIRTVAULT_TOKEN  controller URL and API token for fleet

Documentation: README.md and docs/ in the virtvault source tree.`;

/**
 * Help as every command prints it: options a command cannot run without say so (commander's
 * synopsis shows only `[options]`), and a subcommand lists the options it inherits (a fleet
 * command's --controller and --token).
 */
const HELP: Partial<Help> = {
  showGlobalOptions: true,
  optionDescription(this: Help, option: Option): string {
    const text = Help.prototype.optionDescription.call(this, option);
    return option.mandatory ? `${text} (required)` : text;
  },
};

const EXIT_CODES = `
Exit codes: 0 success, 1 failed (the error's code on stderr, or in "error" with
--json), 2 usage error, 130 a second Ctrl-C (killed without clean-up).`;

/** Adds the exit codes to the help of every command that runs (not of command groups). */
function addExitCodes(commands: readonly Command[]): void {
  for (const c of commands) {
    if (c.commands.length > 0) {
      addExitCodes(c.commands);
    } else {
      c.addHelpText('after', EXIT_CODES);
    }
  }
}

/** Options that build the command tree; the version is passed in by `main.ts`. */
export interface ProgramOptions {
  /** The version printed by `--version`. */
  version: string;
  /** The context commands run in (created by `main.ts`). */
  context: () => CliContext;
}

/** Builds the `virtvault` command tree. Pure: parsing and I/O are the caller's. */
export function buildProgram(options: ProgramOptions): Command {
  const program = new Command('virtvault');
  program
    .description(DESCRIPTION)
    .version(options.version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command')
    .addHelpText('after', EPILOG)
    .showSuggestionAfterError(true)
    .exitOverride();
  // set before the commands are added: each inherits it
  program.configureHelp(HELP);
  program.configureOutput({
    outputError: (text, write) => write(text),
  });
  const ctx = options.context;
  registerBackup(program, ctx);
  registerSnapshots(program, ctx);
  registerRestore(program, ctx);
  registerVerify(program, ctx);
  registerPrune(program, ctx);
  registerForget(program, ctx);
  registerGc(program, ctx);
  registerDoctor(program, ctx);
  registerFleet(program, ctx);
  registerControllerToken(program, ctx);
  registerAgentHelp(program);
  for (const c of program.commands) {
    c.exitOverride();
  }
  addExitCodes(program.commands);
  return program;
}
