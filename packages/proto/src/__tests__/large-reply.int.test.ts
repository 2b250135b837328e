import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { sendUnaryData } from '@grpc/grpc-js';
import type { SnapshotManifest } from '@virtvault/core';

import type { AgentClient } from '../client.js';
import { manifestToMsg } from '../convert/manifest.js';

import { MANIFEST } from './fixtures.js';
import { type FakeAgentServer, startFakeAgent } from './fake-agent-server.js';

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
  let fake: FakeAgentServer | undefined;
  let client: AgentClient;
  const manifests = Array.from({ length: SNAPSHOTS }, (_, i) => manifest(i));

  before(async () => {
    fake = await startFakeAgent({
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
    client = fake.client;
  });

  after(async () => {
    await fake?.close();
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
