import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { ServerWritableStream } from '@grpc/grpc-js';

import type { AgentClient } from '../client.js';
import { ProtoError } from '../errors.js';

import { BACKUP } from './fixtures.js';
import { type FakeAgentServer, startFakeAgent } from './fake-agent-server.js';

/**
 * A fake agent over real gRPC/mTLS on the loopback: its RunBackup sends a result this build
 * cannot read (no manifest) and keeps the stream open, as a newer or broken agent might.
 */
describe('AgentClient stream results', () => {
  let fake: FakeAgentServer | undefined;
  let client: AgentClient;

  before(async () => {
    fake = await startFakeAgent({
      runBackup: (call: ServerWritableStream<unknown, unknown>) => {
        call.write({ result: {} });
      },
    });
    client = fake.client;
  });

  after(async () => {
    await fake?.close();
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
