/**
 * `virtvault controller token …`: token management on the controller's host, straight against
 * its Postgres (`DATABASE_URL`). This is how the first admin token is made; later ones can come
 * from `virtvault fleet tokens` with an admin token.
 */
import type { Command } from 'commander';

import { TOKEN_ROLES } from '@virtvault/core';
import type { TokenStore } from '@virtvault/lineage';

import type { CliContext } from '../context.js';
import { loadLineage } from '../lazy.js';
import { CliError, formatTable, guard, printJson } from '../output.js';
import { tokenOptions } from '../token-options.js';

async function withStore<T>(ctx: CliContext, fn: (s: TokenStore) => Promise<T>): Promise<T> {
  const url = ctx.env.databaseUrl;
  if (url === undefined) {
    throw new CliError('USAGE', 'set DATABASE_URL to the controller database');
  }
  const store = await (await loadLineage()).TokenStore.connect({ url });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * Lists `agent` in the help (`main.ts` hands `virtvault agent ...` to the agent before this
 * program parses anything, so its own `--help` answers).
 */
export function registerAgentHelp(program: Command): void {
  program
    .command('agent')
    .description('run the agent of this host for a controller (--config FILE); see agent --help')
    .helpOption(false);
}

/** Registers `controller token create|list|revoke` (the daemon itself is dispatched by main). */
export function registerControllerToken(program: Command, ctx: () => CliContext): void {
  const controller = program
    .command('controller')
    .description('run a controller replica (--config FILE), or manage its API tokens')
    .addHelpText(
      'after',
      `
  virtvault controller --config /etc/virtvault/controller.yaml
      runs one replica (DATABASE_URL and REDIS_URL from the environment)
  virtvault controller token create admin --role admin
      makes the first admin token (printed once) in DATABASE_URL's database`,
    );
  const token = controller.command('token').description('API tokens in the controller database');
  registerTokenCreate(token, ctx);
  registerTokenList(token, ctx);
  registerTokenRevoke(token, ctx);
}

/** `controller token create <name>`: a new token, printed once. */
function registerTokenCreate(token: Command, ctx: () => CliContext): void {
  token
    .command('create <name>')
    .description('create a token and print it once')
    .requiredOption('--role <role>', `one of ${TOKEN_ROLES.join(', ')}`)
    .option('--expires-in-days <n>', 'expiry (default: never)')
    .option('--json', 'print one JSON document')
    .action(async (name: string, o: { role: string; expiresInDays?: string; json?: boolean }) => {
      const c = ctx();
      await guard(c, o.json === true, async () => {
        const { role, expiresInDays: days } = tokenOptions(o.role, o.expiresInDays);
        const now = c.now();
        const expiresAt = days === undefined ? null : now + days * 86_400_000;
        const created = await withStore(c, (s) => s.create({ name, role, now, expiresAt }));
        if (o.json) {
          printJson(c, created);
        } else {
          c.stdout.write(`${created.token}\n`);
        }
      });
    });
}

/** `controller token list`: every token, never a secret. */
function registerTokenList(token: Command, ctx: () => CliContext): void {
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print one JSON document')
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      await guard(c, o.json === true, async () => {
        const list = await withStore(c, (s) => s.list());
        if (o.json) {
          printJson(c, { tokens: list });
          return;
        }
        const rows = list.map((t) => [
          t.name,
          t.role,
          t.id,
          new Date(t.createdAt).toISOString(),
          t.revokedAt === null ? '-' : 'revoked',
        ]);
        c.stdout.write(formatTable(['NAME', 'ROLE', 'ID', 'CREATED', 'STATE'], rows));
      });
    });
}

/** `controller token revoke <id-or-name>`. */
function registerTokenRevoke(token: Command, ctx: () => CliContext): void {
  token
    .command('revoke <id-or-name>')
    .description('revoke a token at once')
    .option('--json', 'print one JSON document')
    .action(async (id: string, o: { json?: boolean }) => {
      const c = ctx();
      await guard(c, o.json === true, async () => {
        const done = await withStore(c, (s) => s.revoke(id, c.now()));
        if (!done) {
          throw new CliError('TOKEN_NOT_FOUND', `no live token ${id}`, 1);
        }
        if (o.json) {
          printJson(c, { revoked: id });
        } else {
          c.stdout.write(`revoked ${id}\n`);
        }
      });
    });
}
