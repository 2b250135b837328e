import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';

import { AgentClient } from '../client.js';
import { ProtoError } from '../errors.js';
import { agentServiceDefinition } from '../loader.js';

import { BACKUP } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const run = promisify(execFile);

/**
 * A fake agent over real gRPC/mTLS on the loopback: its RunBackup sends a result this build
 * cannot read (no manifest) and keeps the stream open, as a newer or broken agent might.
 */
describe('AgentClient stream results', () => {
  let dir = '';
  let server: Server;
  let client: AgentClient;

  before(async () => {
    dir = await mkdtemp(`${tmpdir()}/vv-proto-`);
    const certs = `${ROOT}deploy/make-certs.sh`;
    await run('bash', [certs, `${dir}/pki`, '--controller', 'controller', '--agent', 'fake-a']);
    const pki = async (f: string) => readFile(`${dir}/pki/${f}`);
    server = new Server();
    server.addService(agentServiceDefinition(), {
      runBackup: (call: ServerWritableStream<unknown, unknown>) => {
        call.write({ result: {} });
      },
    });
    const creds = ServerCredentials.createSsl(
      await pki('ca.crt'),
      [{ cert_chain: await pki('fake-a.crt'), private_key: await pki('fake-a.key') }],
      true,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))),
    );
    client = new AgentClient({
      address: `127.0.0.1:${port}`,
      expectedHostName: 'fake-a',
      ca: await pki('ca.crt'),
      cert: await pki('controller.crt'),
      key: await pki('controller.key'),
    });
  });

  after(async () => {
    client?.close();
    server?.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects a result it cannot convert (BAD_MESSAGE) instead of never settling', async () => {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('still pending after 5 s'), 5_000);
    });
    const outcome = await Promise.race([
      client.runBackup(BACKUP).then(
        () => 'resolved',
        (e: unknown) => (e instanceof ProtoError ? e.code : String(e)),
      ),
      hang,
    ]);
    clearTimeout(timer);
    assert.equal(outcome, 'BAD_MESSAGE');
  });
});
