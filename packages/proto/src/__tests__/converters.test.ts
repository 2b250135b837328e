import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { consistencyOf, type SnapshotManifest } from '@virtvault/core';

import type { AgentRestoreRequest } from '../agent-api.js';
import { ProtoError } from '../errors.js';
import {
  backupRequestFromMsg,
  backupRequestToMsg,
  eventFromMsg,
  eventToMsg,
  gcResultFromMsg,
  gcResultToMsg,
  hostInfoFromMsg,
  hostInfoToMsg,
  inventoryFromMsg,
  inventoryToMsg,
  manifestFromMsg,
  manifestToMsg,
  observedFromMsg,
  observedToMsg,
  pruneRequestFromMsg,
  pruneRequestToMsg,
  pruneResultFromMsg,
  pruneResultToMsg,
  restoreRequestFromMsg,
  restoreRequestToMsg,
  restoreResultFromMsg,
  restoreResultToMsg,
} from '../index.js';
import { agentServiceDefinition } from '../loader.js';

import {
  BACKUP,
  BACKUP_FULL,
  EVENT,
  HOST,
  INVENTORY,
  MANIFEST,
  MANIFEST_FULL,
  OBSERVED,
} from './fixtures.js';

const svc = agentServiceDefinition();

// every test encodes with protobufjs and decodes again, as the wire does (defaults filled in)
function isBadMessage(e: unknown): boolean {
  return e instanceof ProtoError && e.code === 'BAD_MESSAGE';
}

describe('proto converters: core → wire bytes → core is the identity', () => {
  it('ObservedDomain (nulls, 10 TiB sizes, bitmaps with every flag)', () => {
    const buf = svc.ObserveDomain.responseSerialize(observedToMsg(OBSERVED));
    assert.deepEqual(observedFromMsg(svc.ObserveDomain.responseDeserialize(buf)), OBSERVED);
  });

  it('SnapshotManifest, with and without checkpoint and parent', () => {
    const manifests = [MANIFEST, MANIFEST_FULL].map(manifestToMsg);
    const buf = svc.ListManifests.responseSerialize({ manifests });
    const back = svc.ListManifests.responseDeserialize(buf).manifests.map((m) =>
      manifestFromMsg(m),
    );
    assert.deepEqual(back, [MANIFEST, MANIFEST_FULL]);
  });

  it('Manifest.consistency: empty from an older agent reads as absent (crash)', () => {
    const legacy: SnapshotManifest = { ...MANIFEST };
    delete legacy.consistency;
    const msg = { ...manifestToMsg(MANIFEST), consistency: '' };
    const back = svc.ListManifests.responseDeserialize(
      svc.ListManifests.responseSerialize({ manifests: [msg] }),
    );
    const m = manifestFromMsg(back.manifests[0] ?? assert.fail());
    assert.deepEqual(m, legacy);
    assert.equal(consistencyOf(m), 'crash');
  });

  it('RunBackupRequest, incremental (quiesced) and full', () => {
    for (const req of [BACKUP, BACKUP_FULL]) {
      const buf = svc.RunBackup.requestSerialize(backupRequestToMsg(req));
      assert.deepEqual(backupRequestFromMsg(svc.RunBackup.requestDeserialize(buf)), req);
    }
  });

  it('restore request and result; absent options stay absent', () => {
    const full: AgentRestoreRequest = {
      repository: 'main',
      domainUuid: OBSERVED.domain.uuid,
      snapshotId: MANIFEST.id,
      outputDir: '/restore',
      format: 'raw',
      disks: ['vda'],
      defineName: 'web1-restored',
    };
    const bare: AgentRestoreRequest = {
      repository: full.repository,
      domainUuid: full.domainUuid,
      snapshotId: full.snapshotId,
      outputDir: full.outputDir,
      format: 'qcow2',
    };
    for (const req of [full, bare]) {
      const buf = svc.Restore.requestSerialize(restoreRequestToMsg(req));
      assert.deepEqual(restoreRequestFromMsg(svc.Restore.requestDeserialize(buf)), req);
    }
    for (const res of [
      {
        disks: [{ target: 'vda', path: '/restore/vda.raw', format: 'raw', virtualSize: 2 ** 34 }],
        definedUuid: 'u-1',
      },
      { disks: [], definedUuid: null },
    ]) {
      const buf = svc.Restore.responseSerialize({ result: restoreResultToMsg(res) });
      const out = svc.Restore.responseDeserialize(buf);
      assert.equal(out.update, 'result');
      assert.deepEqual(restoreResultFromMsg(out.result ?? assert.fail('no result')), res);
    }
  });

  it('prune request and result; GC result', () => {
    const req = {
      repository: 'main',
      domainUuid: OBSERVED.domain.uuid,
      keepLast: 3,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 12,
      timeZone: 'Europe/Berlin',
      protect: [MANIFEST.id],
      dryRun: true,
    };
    const bare = { repository: 'main', keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 };
    for (const r of [req, bare]) {
      const buf = svc.Prune.requestSerialize(pruneRequestToMsg(r));
      assert.deepEqual(pruneRequestFromMsg(svc.Prune.requestDeserialize(buf)), r);
    }
    const res = { kept: ['d/a'], removed: ['d/b', 'd/c'], inUse: [], damaged: ['d/x'] };
    const pbuf = svc.Prune.responseSerialize(pruneResultToMsg(res));
    assert.deepEqual(pruneResultFromMsg(svc.Prune.responseDeserialize(pbuf)), res);
    const gc = {
      marked: 10,
      swept: 2,
      sweptBytes: 5 * 2 ** 33,
      removedSnapshots: ['d/x'],
      removedBad: 3,
    };
    const gbuf = svc.CollectGarbage.responseSerialize(gcResultToMsg(gc));
    assert.deepEqual(gcResultFromMsg(svc.CollectGarbage.responseDeserialize(gbuf)), gc);
  });

  it('host info, inventory domains and events', () => {
    const h = svc.GetHostInfo.responseSerialize(hostInfoToMsg(HOST));
    assert.deepEqual(hostInfoFromMsg(svc.GetHostInfo.responseDeserialize(h)), HOST);
    const l = svc.ListDomains.responseSerialize({
      hostName: 'host-a',
      domains: [inventoryToMsg(INVENTORY)],
    });
    assert.deepEqual(svc.ListDomains.responseDeserialize(l).domains.map(inventoryFromMsg), [
      INVENTORY,
    ]);
    const e = svc.WatchEvents.responseSerialize(eventToMsg(EVENT));
    assert.deepEqual(eventFromMsg(svc.WatchEvents.responseDeserialize(e)), EVENT);
  });
});

describe('proto converters: unknown enum strings are BAD_MESSAGE', () => {
  it('state, level, mode, format, event kind and reason codes', () => {
    const obs = svc.ObserveDomain.responseDeserialize(
      svc.ObserveDomain.responseSerialize({ ...observedToMsg(OBSERVED), state: 'crashed' }),
    );
    assert.throws(() => observedFromMsg(obs), isBadMessage);
    const m = { ...manifestToMsg(MANIFEST), level: 'weekly' };
    const back = svc.ListManifests.responseDeserialize(
      svc.ListManifests.responseSerialize({ manifests: [m] }),
    );
    assert.throws(
      () => manifestFromMsg(back.manifests[0] ?? assert.fail()),
      /Manifest\.level must be one of/,
    );
    const bad = [
      { ...backupRequestToMsg(BACKUP), level: 'inc' },
      { ...backupRequestToMsg(BACKUP), newCheckpoint: { name: 'x', disks: [], mode: 'push' } },
      { ...backupRequestToMsg(BACKUP), reasons: ['BECAUSE'] },
      { ...backupRequestToMsg(BACKUP), observed: null },
    ];
    for (const b of bad) {
      const decoded = svc.RunBackup.requestDeserialize(svc.RunBackup.requestSerialize(b));
      assert.throws(() => backupRequestFromMsg(decoded), isBadMessage);
    }
    const r = {
      ...restoreRequestToMsg({
        repository: 'm',
        domainUuid: 'u',
        snapshotId: 's',
        outputDir: '/o',
        format: 'raw',
      }),
      format: 'vmdk',
    };
    assert.throws(
      () => restoreRequestFromMsg(svc.Restore.requestDeserialize(svc.Restore.requestSerialize(r))),
      isBadMessage,
    );
    const ev = svc.WatchEvents.responseDeserialize(
      svc.WatchEvents.responseSerialize({ ...EVENT, kind: 'exploded' }),
    );
    assert.throws(() => eventFromMsg(ev), isBadMessage);
  });
});
