import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { callApi } from '../fleet/client.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

/** What the fake controller was asked. */
interface Asked {
  method: string;
  url: string;
  body: unknown;
}

const RUN = {
  id: '01M886WS8038NKRKAYDXR834G3',
  domainUuid: '11111111-2222-3333-4444-555555555555',
  domainName: 'web1',
  repository: 'main',
  host: 'host-a',
  status: 'failed',
  plannedLevel: 'incremental',
  finalLevel: null,
  reasons: ['BITMAP_MISSING'],
  errorCode: 'AGENT_UNAVAILABLE',
  errorMessage: 'agent host-a did not answer',
  snapshotId: null,
  startedAt: Date.parse('2026-11-25T02:00:00Z'),
  heartbeatAt: Date.parse('2026-11-25T02:01:00Z'),
  finishedAt: Date.parse('2026-11-25T02:05:00Z'),
  policy: 'nightly',
  trigger: 'schedule',
  jobId: 'j1',
  attempt: 2,
};

/** The answers of the fake controller: the API's shapes for the routes the tests call. */
function answerOf(a: Asked): [number, unknown] {
  const known = ['/api/v1/hosts/host-a', '/api/v1/policies/nightly'];
  if (a.method === 'DELETE') {
    return [200, { removed: known.includes(a.url) }];
  }
  if (a.url === `/api/v1/runs/${RUN.id}`) {
    return [200, { run: RUN }];
  }
  if (a.url.startsWith('/api/v1/runs?')) {
    return [200, { runs: [RUN] }];
  }
  if (a.method === 'PUT') {
    return [200, { policy: a.body }];
  }
  return [404, { error: { code: 'NOT_FOUND', message: a.url } }];
}

let server: Server;
let controller = '';
const asked: Asked[] = [];

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      if (req.url === '/hang') {
        return; // never answered: only the caller's signal ends the request
      }
      const a = {
        method: req.method ?? '',
        url: req.url ?? '',
        body: text ? (JSON.parse(text) as unknown) : null,
      };
      asked.push(a);
      const [status, body] = answerOf(a);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  controller = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** Runs `virtvault fleet …` against the fake controller (async: the server answers meanwhile). */
function fleet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [MAIN, 'fleet', '--controller', controller, '--token', 't', ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { encoding: 'utf8' }, (e, stdout, stderr) => {
      const code = e === null ? 0 : typeof e.code === 'number' ? e.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('fleet commands', () => {
  it('fails removing a host or deleting a policy the controller does not know', async () => {
    for (const [args, code] of [
      [['hosts', 'remove', 'host-z'], 'HOST_NOT_FOUND'],
      [['policies', 'delete', 'weekly'], 'POLICY_NOT_FOUND'],
    ] as const) {
      const text = await fleet(...args);
      assert.equal(text.code, 1, args.join(' '));
      assert.match(text.stderr, new RegExp(`^virtvault: ${code}: `, 'm'));
      assert.equal(text.stdout, '');
      const json = await fleet(...args, '--json');
      assert.equal(json.code, 1);
      assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, code);
    }
    const ok = await fleet('hosts', 'remove', 'host-a');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'host host-a removed\n');
    assert.equal((await fleet('policies', 'delete', 'nightly')).stdout, 'policy nightly deleted\n');
  });

  it('shows one run as readable lines, and as the API answer with --json', async () => {
    const text = await fleet('runs', RUN.id);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^run ${RUN.id}: failed\n`));
    assert.match(text.stdout, /^ {2}VM: +web1 \(11111111-2222-3333-4444-555555555555\)$/m);
    assert.match(text.stdout, /^ {2}level: +incremental \(planned\)$/m);
    assert.match(text.stdout, /^ {2}started: +2026-11-25 02:00:00Z$/m);
    assert.match(text.stdout, /^ {2}error: +AGENT_UNAVAILABLE: agent host-a did not answer$/m);
    assert.doesNotMatch(text.stdout, /[{}]/, 'no JSON in text mode');
    const json = await fleet('runs', RUN.id, '--json');
    assert.deepEqual(JSON.parse(json.stdout), { run: RUN });
  });

  it('takes runs --domain as --vm, and policies set --level inc as incremental', async () => {
    asked.length = 0;
    assert.equal((await fleet('runs', '--domain', 'web1')).code, 0);
    const query = new URL(asked[0]?.url ?? '', controller).searchParams;
    assert.equal(query.get('vm'), 'web1');
    assert.equal(query.get('limit'), '50');
    const set = ['policies', 'set', 'nightly', '--cron', '0 2 * * *', '--repository', 'main'];
    assert.equal((await fleet(...set, '--level', 'inc')).code, 0);
    assert.deepEqual((asked[1]?.body as { level: unknown }).level, { level: 'incremental' });
    assert.equal((await fleet(...set, '--level', 'diff')).code, 0);
    assert.deepEqual((asked[2]?.body as { level: unknown }).level, { level: 'differential' });
  });

  it('policies set merges an option into a file whose level is in its short form', async () => {
    asked.length = 0;
    const dir = await mkdtemp(path.join(tmpdir(), 'vv-policy-'));
    try {
      const file = path.join(dir, 'p.yaml');
      await writeFile(file, 'cron: "0 2 * * *"\nrepository: main\nlevel: incremental\n');
      const r = await fleet('policies', 'set', 'nightly', '--file', file, '--max-chain', '5');
      assert.equal(r.code, 0, r.stderr);
      const body = asked[0]?.body as { level: unknown };
      assert.deepEqual(body.level, { level: 'incremental', maxChainLength: 5 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a request the signal stopped as FLEET_INTERRUPTED, not CONTROLLER_UNREACHABLE', async () => {
    const aborter = new AbortController();
    const call = callApi({ controller, token: 't', signal: aborter.signal }, 'GET', 'hang');
    setTimeout(() => aborter.abort(new Error('interrupted by SIGINT')), 100);
    await assert.rejects(call, (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'FLEET_INTERRUPTED');
      assert.match((e as Error).message, /interrupted by SIGINT/);
      return true;
    });
  });
});
