import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  hasErrorCode,
  type AgentEventInfo,
  type ObservedDomain,
  type SnapshotManifest,
} from '@virtvault/core';
import {
  loadAgentPackage,
  ProtoError,
  type AgentBackupRequest,
  type AgentClient,
} from '@virtvault/proto';
import { Repository, verifyRepository } from '@virtvault/repo';
import { Lab } from '@virtvault/testkit';

import { parseConfig } from '../config.js';
import { AgentServer } from '../server.js';
import { AgentService } from '../service.js';

import {
  agentYaml,
  checkpointNames,
  client,
  compareImages,
  copyRaw,
  eventually,
  freePort,
  hasNoJob,
  HOST,
  makeCerts,
  spawnAgent,
  virsh,
  writeConfig,
} from './agent-fixture.js';

const MiB = 2 ** 20;
const VM = 'vvagent1';
const TAGS_NS = 'https://virtvault.dev/xmlns/1';

function code(e: unknown): string {
  return e instanceof ProtoError ? e.code : `not a ProtoError: ${String(e)}`;
}

describe('agent over gRPC/mTLS against a lab host', () => {
  const lab = new Lab();
  let dir = '';
  let uri = '';
  let port = 0;
  let service: AgentService;
  let server: AgentServer;
  let agent: AgentClient;
  let observed: ObservedDomain;
  const manifests: SnapshotManifest[] = [];
  const log: string[] = [];

  before(async () => {
    await lab.up(['a']);
    await lab.rmvm(VM);
    await rm(await lab.image(VM, 'vda'), { force: true });
    await lab.vm(VM, '1G');
    uri = await lab.uri('a');
    const tags = ['metadata', VM, TAGS_NS, '--key', 'vv', '--set', '<tags>web, db</tags>'];
    await virsh(uri, ...tags, '--live', '--config');
    dir = await mkdtemp('/var/tmp/vv-agent-');
    await mkdir(`${dir}/s`);
    await makeCerts(dir);
    const yaml = agentYaml({ dir, port: 0, uri, max: 1 });
    const config = parseConfig(yaml, { hostName: 'unused', baseDir: dir });
    service = new AgentService({ config, version: 'test', now: () => Date.now() });
    await service.connect();
    server = new AgentServer(service, config, (event, f) =>
      log.push(`${event} ${JSON.stringify(f)}`),
    );
    port = await server.start();
    agent = await client(dir, port);
  });

  after(async () => {
    agent?.close();
    await server?.stop(5_000);
    await service?.close(5_000);
    await lab.rmvm(VM);
    await rm(dir, { recursive: true, force: true });
  });

  function request(id: string, level: 'full' | 'incremental', parent?: SnapshotManifest) {
    const req: AgentBackupRequest = {
      runId: `run-${id}`,
      repository: 'main',
      snapshotId: id,
      observed,
      level,
      parentSnapshot: parent?.id ?? null,
      incrementalFrom: parent?.checkpoint?.name ?? null,
      newCheckpoint: { name: `vv-${id}`, disks: ['vda'], mode: 'live' },
      reasons: level === 'full' ? ['NO_PARENT'] : [],
    };
    return req;
  }

  it('refuses clients without a certificate, from another CA, or with another name', async () => {
    const Ctor = loadAgentPackage().virtvault.agent.v1.AgentService;
    const bare = new Ctor(
      `127.0.0.1:${port}`,
      credentials.createSsl(await readFile(`${dir}/pki/ca.crt`)),
      {
        'grpc.ssl_target_name_override': HOST,
      },
    );
    const noCert = await new Promise<ServiceError | null>((resolve) => {
      const deadline = Date.now() + 5_000;
      bare.getHostInfo({}, new Metadata(), { deadline }, (err) => resolve(err));
    });
    bare.close();
    assert.equal(noCert?.code, status.UNAVAILABLE, 'the handshake fails without a client cert');

    const foreign = await client(dir, port, { cert: 'foreign/controller' });
    const e1 = await foreign.hostInfo({ deadlineMs: 5_000 }).catch((e: unknown) => e);
    foreign.close();
    assert.ok(['AGENT_TLS_REFUSED', 'AGENT_UNAVAILABLE'].includes(code(e1)), code(e1));

    const intruder = await client(dir, port, { cert: 'pki/intruder' });
    const e2 = await intruder.hostInfo({ deadlineMs: 5_000 }).catch((e: unknown) => e);
    intruder.close();
    assert.equal(code(e2), 'TLS_PEER_REFUSED');
    assert.ok(log.some((l) => l.startsWith('peer-refused') && l.includes('intruder')));
  });

  it('refuses an agent whose certificate names another host', async () => {
    const c = await client(dir, port, { expect: 'host-b' });
    const e = await c.hostInfo({ deadlineMs: 5_000 }).catch((x: unknown) => x);
    c.close();
    assert.equal(code(e), 'AGENT_TLS_REFUSED');
    assert.match((e as Error).message, /names lab-a, not host-b/);
  });

  it('tells who it is, lists the domain with its tags and observes it', async () => {
    const info = await agent.hostInfo();
    assert.equal(info.hostName, HOST);
    assert.deepEqual(info.repositories, ['main']);
    assert.match(info.libvirtVersion, /^\d+\.\d+\.\d+$/);
    assert.equal(info.maxConcurrentBackups, 1);
    const domains = await agent.listDomains();
    const d = domains.find((x) => x.name === VM);
    assert.ok(d, `${VM} among ${domains.map((x) => x.name).join(', ')}`);
    assert.deepEqual(d.tags, ['web', 'db']);
    assert.equal(d.state, 'running');
    assert.equal(d.disks[0]?.target, 'vda');
    observed = await agent.observe(VM);
    assert.equal(observed.host, HOST);
    assert.equal(observed.domain.uuid, d.uuid);
    assert.equal(observed.disks[0]?.virtualSize, 1024 * MiB);
    assert.equal(
      code(await agent.observe('no-such-vm').catch((e: unknown) => e)),
      'DOMAIN_NOT_FOUND',
    );
  });

  it('backs up full, then incremental, and restores the incremental byte-exact', async () => {
    await lab.write(VM, 'vda', 0, 32 * MiB, { randomSeed: 'agent-a' });
    const progress: number[] = [];
    const full = await agent.runBackup(request('s1', 'full'), {
      onProgress: (p) => progress.push(p.bytesRead),
    });
    assert.equal(full.level, 'full');
    assert.equal(full.checkpoint?.name, 'vv-s1');
    assert.ok(progress.length > 1, `progress messages: ${progress.join()}`);
    assert.ok((full.disks[0]?.bytesRead ?? 0) >= 32 * MiB);
    assert.equal(progress.at(-1), full.disks[0]?.bytesRead, 'the last progress is the total read');
    manifests.push(full);

    await lab.write(VM, 'vda', 200 * MiB, MiB, { pattern: 0x5a });
    observed = await agent.observe(VM);
    const inc = await agent.runBackup(request('s2', 'incremental', full));
    manifests.push(inc);
    const source = `${dir}/src-s2.raw`;
    await copyRaw(await lab.image(VM, 'vda'), source);
    assert.equal(inc.level, 'incremental');
    assert.equal(inc.parent, 's1');
    const read = inc.disks[0]?.bytesRead ?? -1;
    assert.ok(read > 0 && read <= 4 * MiB, `incremental read ${read} bytes of a 1 GiB disk`);

    const listed = await agent.listManifests('main', observed.domain.uuid);
    assert.deepEqual(
      listed.map((m) => m.id),
      ['s1', 's2'],
    );
    const repo = new Repository(`${dir}/repo`);
    await repo.open();
    assert.deepEqual((await repo.readManifest(observed.domain.uuid, 's2')).disks, inc.disks);
    // verify results cross the wire for the controller's planner (none before a verify)
    assert.deepEqual(await agent.listVerifyResults('main', observed.domain.uuid), new Map());
    assert.ok((await verifyRepository(repo)).ok);
    assert.deepEqual(
      await agent.listVerifyResults('main', observed.domain.uuid),
      new Map([
        ['s1', 'ok'],
        ['s2', 'ok'],
      ]),
    );
    await repo.close();

    const restored = await agent.restore(
      {
        repository: 'main',
        domainUuid: observed.domain.uuid,
        snapshotId: 's2',
        outputDir: `${dir}/r2`,
        format: 'qcow2',
      },
      { onProgress: () => undefined },
    );
    assert.deepEqual(
      restored.disks.map((d) => d.path),
      [path.join(dir, 'r2', 'vda.qcow2')],
    );
    assert.equal(restored.definedUuid, null);
    assert.match(await compareImages(`${dir}/r2/vda.qcow2`, source), /Images are identical/);
    // the agent runs as root: a folder outside its restore roots is refused, nothing written
    const outside = await mkdtemp(path.join(tmpdir(), 'vv-outside-'));
    try {
      const req = { repository: 'main', domainUuid: observed.domain.uuid, snapshotId: 's2' };
      const refused = agent.restore(
        { ...req, outputDir: `${outside}/r`, format: 'raw' },
        { onProgress: () => undefined },
      );
      await assert.rejects(refused, (e) => hasErrorCode(e, 'OUTPUT_DIR_REFUSED'));
      assert.deepEqual(await readdir(outside), []);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('cancels a running backup cleanly; a second one meanwhile is AGENT_BUSY', async () => {
    await lab.write(VM, 'vda', 256 * MiB, 384 * MiB, { randomSeed: 'agent-big' });
    observed = await agent.observe(VM);
    const before = await checkpointNames(uri, VM);
    const aborter = new AbortController();
    let busy = '';
    // the host's inventory while the backup job runs (the controller polls it meanwhile)
    const during: { inventory?: Promise<string[] | string> } = {};
    const run = agent.runBackup(request('s3', 'full'), {
      signal: aborter.signal,
      onProgress: () => {
        if (during.inventory === undefined) {
          // sent before the cancel, so the agent sees it while s3 still runs
          void agent.runBackup(request('s3b', 'full')).catch((e: unknown) => (busy = code(e)));
          during.inventory = agent.listDomains().then(
            (ds) => ds.map((d) => d.name),
            (e: unknown) => code(e),
          );
          aborter.abort();
        }
      },
    });
    assert.equal(code(await run.catch((e: unknown) => e)), 'AGENT_CANCELLED');
    const meanwhile = await during.inventory;
    assert.ok(
      Array.isArray(meanwhile) && meanwhile.includes(VM),
      `inventory: ${String(meanwhile)}`,
    );
    assert.ok(await eventually(() => hasNoJob(uri, VM)), 'the backup job was ended');
    assert.ok(
      await eventually(() => Promise.resolve(service.runningBackups === 0)),
      'the agent finished its clean-up',
    );
    assert.deepEqual(await checkpointNames(uri, VM), before, 'no new checkpoint');
    const ids = (await agent.listManifests('main', observed.domain.uuid)).map((m) => m.id);
    assert.deepEqual(ids, ['s1', 's2'], 'no new committed snapshot');
    const repo = new Repository(`${dir}/repo`);
    await repo.open();
    const folders = (await repo.listSnapshots(observed.domain.uuid)).map((s) => s.id);
    await repo.close();
    assert.deepEqual(folders.sort(), ['s1', 's2'], 'the partial snapshot was removed');
    assert.ok(
      await eventually(() => Promise.resolve(busy !== '')),
      'the second backup was answered',
    );
    assert.equal(busy, 'AGENT_BUSY');
  });

  it('interrupts a restore when its caller cancels, leaving nothing written', async () => {
    const aborter = new AbortController();
    const out = `${dir}/r-cancelled`;
    const restore = service.restore(
      {
        repository: 'main',
        domainUuid: observed.domain.uuid,
        snapshotId: 's1',
        outputDir: out,
        format: 'raw',
      },
      { signal: aborter.signal, onProgress: () => aborter.abort() },
    );
    const e = (await restore.catch((x: unknown) => x)) as { code?: unknown };
    assert.equal(e.code, 'RESTORE_INTERRUPTED', (e as Error).message);
    const left = await readdir(out).catch(() => []);
    assert.deepEqual(left, [], 'the partial disk was removed');
  });

  it('streams lifecycle events', async () => {
    const aborter = new AbortController();
    const seen: AgentEventInfo[] = [];
    const kinds = (): string[] => seen.filter((e) => e.domainName === VM).map((e) => e.kind);
    let done = false;
    const watching = (async () => {
      for await (const e of agent.watchEvents(aborter.signal)) {
        seen.push(e);
        if (kinds().slice(-2).join() === 'suspended,resumed') {
          aborter.abort();
        }
      }
    })().finally(() => (done = true));
    // The stream may reach the agent after the first pair (a slow machine): pairs until one is
    // seen whole, with no fixed wait for the subscription.
    for (let i = 0; i < 20 && !done; i++) {
      await virsh(uri, 'suspend', VM);
      await virsh(uri, 'resume', VM);
      await Promise.race([watching, new Promise((r) => setTimeout(r, 500))]);
    }
    await watching;
    assert.deepEqual(kinds().slice(-2), ['suspended', 'resumed']);
    assert.ok(
      kinds().every((k) => k === 'suspended' || k === 'resumed'),
      kinds().join(),
    );
    assert.equal(seen[0]?.host, HOST);
  });

  it('exits 0 promptly on SIGTERM during a backup, leaving no job behind', async () => {
    const p2 = await freePort();
    await writeConfig(`${dir}/agent.yaml`, agentYaml({ dir, port: p2, uri, max: 2 }));
    const proc = await spawnAgent(`${dir}/agent.yaml`);
    const c = await client(dir, p2);
    observed = await c.observe(VM);
    const before = await checkpointNames(uri, VM);
    let t0 = 0;
    const run = c.runBackup(request('s4', 'full'), {
      onProgress: () => {
        if (t0 === 0) {
          t0 = Date.now();
          proc.child.kill('SIGTERM');
        }
      },
    });
    const err = await run.catch((e: unknown) => e);
    const exit = await proc.exited;
    const took = Date.now() - t0;
    c.close();
    assert.ok(['AGENT_UNAVAILABLE', 'AGENT_SHUTTING_DOWN'].includes(code(err)), code(err));
    assert.equal(exit, 0, proc.log());
    assert.ok(took < 15_000, `exited ${took} ms after SIGTERM`);
    assert.match(proc.log(), / stopping signal=SIGTERM runningBackups=1/);
    assert.ok(await hasNoJob(uri, VM), 'no backup job left');
    assert.deepEqual(await checkpointNames(uri, VM), before, 'no new checkpoint');
    const ids = (await agent.listManifests('main', observed.domain.uuid)).map((m) => m.id);
    assert.deepEqual(ids, ['s1', 's2']);
  });
});
