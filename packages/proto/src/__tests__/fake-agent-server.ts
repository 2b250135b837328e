/**
 * A fake agent over real gRPC with mutual TLS on the loopback, for the client's tests: fresh
 * certificates from deploy/make-certs.sh, a server with the handlers given, a client of it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';

import { AgentClient } from '../client.js';
import { agentServiceDefinition } from '../loader.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const run = promisify(execFile);

/** A running fake agent and the client connected to it. */
export interface FakeAgentServer {
  /** The client, as the controller has it. */
  client: AgentClient;
  /** Closes the client, stops the server, removes the certificates. */
  close(): Promise<void>;
}

/** Starts a fake agent `fake-a` whose service methods are `handlers`. */
export async function startFakeAgent(
  handlers: UntypedServiceImplementation,
): Promise<FakeAgentServer> {
  const dir = await mkdtemp(`${tmpdir()}/vv-proto-`);
  const certs = `${ROOT}deploy/make-certs.sh`;
  await run('bash', [certs, `${dir}/pki`, '--controller', 'controller', '--agent', 'fake-a']);
  const pki = async (f: string) => readFile(`${dir}/pki/${f}`);
  const server = new Server();
  server.addService(agentServiceDefinition(), handlers);
  const creds = ServerCredentials.createSsl(
    await pki('ca.crt'),
    [{ cert_chain: await pki('fake-a.crt'), private_key: await pki('fake-a.key') }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))),
  );
  const client = new AgentClient({
    address: `127.0.0.1:${port}`,
    expectedHostName: 'fake-a',
    ca: await pki('ca.crt'),
    cert: await pki('controller.crt'),
    key: await pki('controller.key'),
  });
  return {
    client,
    close: async () => {
      client.close();
      server.forceShutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
