import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Server, ServerCredentials, type sendUnaryData } from '@grpc/grpc-js';
import type { SnapshotManifest } from '@virtvault/core';

import { AgentClient } from '../client.js';
import { manifestToMsg } from '../convert/manifest.js';
import { agentServiceDefinition } from '../loader.js';

import { MANIFEST } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const run = promisify(execFile);

/** Snapshots of one domain, each with a domain XML of 15 KB: ~6 MB in one reply. */
const SNAPSHOTS = 400;

function manifest(i: number): SnapshotManifest {
  const id = `01JDQ3ZK7G5X${String(i).padStart(14, '0')}`;
  const big = `<description>${String(i).repeat(15_000).slice(0, 15_000)}</description>`;
  return { ...MANIFEST, id, domainXml: `<domain type="kvm"><name>web1</name>${big}</domain>` };
}

/**
 * A fake agent over real gRPC/mTLS on the loopback (grpc-js's own limits, as in production):
 * its ListManifests answers with far more than grpc-js's default receive limit of 4 MiB, its
 * ListVerifyResults with a status this build does not know.
 */
describe('AgentClient replies of a domain with many snapshots', () => {
  let dir = '';
  let server: Server;
  let client: AgentClient;
  const manifests = Array.from({ length: SNAPSHOTS }, (_, i) => manifest(i));

  before(async () => {
    dir = await mkdtemp(`${tmpdir()}/vv-proto-large-`);
    const certs = `${ROOT}deploy/make-certs.sh`;
    await run('bash', [certs, `${dir}/pki`, '--controller', 'controller', '--agent', 'fake-a']);
    const pki = async (f: string) => readFile(`${dir}/pki/${f}`);
    server = new Server();
    server.addService(agentServiceDefinition(), {
      listManifests: (_call: unknown, cb: sendUnaryData<unknown>) =>
        cb(null, { manifests: manifests.map(manifestToMsg) }),
      listVerifyResults: (_call: unknown, cb: sendUnaryData<unknown>) =>
        cb(null, {
          results: [
            { snapshotId: 'a', status: 'ok' },
            { snapshotId: 'b', status: 'quarantined' },
            { snapshotId: 'c', status: 'failed' },
          ],
        }),
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

  it('receives every manifest of a reply far beyond 4 MiB', async () => {
    const got = await client.listManifests('main', MANIFEST.domain.uuid, { deadlineMs: 30_000 });
    assert.equal(got.length, SNAPSHOTS);
    assert.deepEqual(
      got.map((m) => m.id),
      manifests.map((m) => m.id),
    );
    assert.equal(got[SNAPSHOTS - 1]?.domainXml, manifests[SNAPSHOTS - 1]?.domainXml);
  });

  it('skips a verify status it does not know, keeping the others', async () => {
    const got = await client.listVerifyResults('main', MANIFEST.domain.uuid);
    assert.deepEqual(
      got,
      new Map([
        ['a', 'ok'],
        ['c', 'failed'],
      ]),
    );
  });
});
