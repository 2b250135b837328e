import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { AgentBackupRequest } from '@virtvault/proto';

import { parseConfig } from '../config.js';
import { AgentService } from '../service.js';

const UUID = '6f1c1f9e-0000-4000-8000-000000000002';
const OURS = 'vv-0123abcd-01HZX8V6M3Q3K5Y2N9T4R7B1CD';
/** Names of other tools, and names that are shell, path or option syntax. */
const REFUSED = [
  '--help',
  '-f',
  'one-17',
  'virtnbdbackup.0',
  'vv-',
  'vv-a b',
  'vv-x;reboot',
  'vv-../../etc',
  'vv-x\n',
  '',
];

let dir = '';

/**
 * A service whose libvirt socket does not exist: a call that got past the agent's checks fails
 * connecting (LIBVIRT_CONNECT_FAILED), before any qemu-img could run.
 */
function service(): AgentService {
  const yaml = `
listen: 127.0.0.1:7443
tls: { ca: ca.crt, cert: c.crt, key: c.key }
controllerName: controller
libvirtUri: "qemu:///system?socket=${dir}/no-libvirtd"
repositories:
  - { name: main, path: ${dir}/repo, create: true }
`;
  const config = parseConfig(yaml, { hostName: 'h', baseDir: dir });
  return new AgentService({ config, version: 'test', now: Date.now });
}

function codeOf(e: unknown): string {
  return String((e as { code?: unknown }).code);
}

function checkpointXml(name: string): string {
  return `<domaincheckpoint><name>${name}</name><disks><disk name="vda" checkpoint="bitmap"/></disks></domaincheckpoint>`;
}

function backup(newName: string, from: string | null): AgentBackupRequest {
  return {
    runId: 'r1',
    repository: 'main',
    snapshotId: 's1',
    observed: {
      host: 'h',
      domain: { uuid: UUID, name: 'vm1', state: 'running', transient: false },
      disks: [],
      checkpoints: [],
    },
    level: from === null ? 'full' : 'incremental',
    parentSnapshot: from === null ? null : 's0',
    incrementalFrom: from,
    newCheckpoint: { name: newName, disks: ['vda'], mode: 'live' },
    reasons: [],
  };
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vv-agent-names-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkpoint and bitmap names from the wire', () => {
  it('refuses names not ours or not plain with BAD_REQUEST, before libvirt or qemu-img', async () => {
    const s = service();
    try {
      for (const name of REFUSED) {
        const why = JSON.stringify(name);
        await assert.rejects(s.deleteCheckpointMetadata(UUID, name), (e) => {
          assert.equal(codeOf(e), 'BAD_REQUEST', `delete ${why}: ${String(e)}`);
          return true;
        });
        await assert.rejects(s.removeBitmap(UUID, 'vda', name, 'qemu-img'), (e) => {
          assert.equal(codeOf(e), 'BAD_REQUEST', `remove ${why}: ${String(e)}`);
          return true;
        });
        const action = { checkpoint: name, xml: checkpointXml(name), validate: false };
        await assert.rejects(s.redefineCheckpoint(UUID, action), (e) => {
          assert.equal(codeOf(e), 'BAD_REQUEST', `redefine ${why}: ${String(e)}`);
          return true;
        });
      }
    } finally {
      await s.close(0);
    }
  });

  it('passes a name of ours on to libvirt', async () => {
    const s = service();
    try {
      const calls = [
        s.deleteCheckpointMetadata(UUID, OURS),
        s.removeBitmap(UUID, 'vda', OURS, 'qemu-img'),
        s.redefineCheckpoint(UUID, { checkpoint: OURS, xml: checkpointXml(OURS), validate: true }),
      ];
      for (const c of calls) {
        await assert.rejects(c, (e) => codeOf(e) === 'LIBVIRT_CONNECT_FAILED');
      }
    } finally {
      await s.close(0);
    }
  });

  it('refuses a redefine whose XML names another checkpoint, or is no checkpoint XML', async () => {
    const s = service();
    try {
      for (const xml of [checkpointXml('one-17'), checkpointXml('vv-other'), '<domain/>', 'x']) {
        const action = { checkpoint: OURS, xml, validate: false };
        await assert.rejects(s.redefineCheckpoint(UUID, action), (e) => {
          assert.equal(codeOf(e), 'BAD_REQUEST', `${xml}: ${String(e)}`);
          return true;
        });
      }
    } finally {
      await s.close(0);
    }
  });

  it('admits a backup only when its parent and new checkpoint are ours', async () => {
    const s = service();
    try {
      s.admitBackup(backup(OURS, 'vv-parent'));
      s.admitBackup(backup(OURS, null));
      for (const name of REFUSED) {
        assert.throws(
          () => s.admitBackup(backup(name, null)),
          (e) => codeOf(e) === 'BAD_REQUEST',
        );
        if (name !== '') {
          assert.throws(
            () => s.admitBackup(backup(OURS, name)),
            (e) => codeOf(e) === 'BAD_REQUEST',
          );
        }
      }
    } finally {
      await s.close(0);
    }
  });
});
