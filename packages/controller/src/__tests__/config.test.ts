import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseConfig } from '../config.js';
import {
  backoffMs,
  backupJobId,
  pruneJobId,
  hostOfQueue,
  hostQueueName,
  schedulerId,
} from '../queue/job-ids.js';

const BASE = `
http: { listen: "0.0.0.0:8443" }
grpc: { ca: /etc/vv/ca.pem, cert: /etc/vv/c.pem, key: /etc/vv/c.key }
hosts:
  - { name: kvm-1, address: "kvm-1.lan:7443" }
  - { name: kvm-2, address: "10.0.0.2:7443", maxConcurrentBackups: 4 }
repositories: [{ name: main, maxConcurrent: 8 }]
policies:
  - name: nightly
    selector: { nameGlob: "web-*", tag: prod }
    cron: "0 2 * * *"
    timeZone: Europe/Berlin
    level: { level: auto, maxChainLength: 6, fullOnWeekdays: [0] }
    retention: { keepLast: 7, keepDaily: 14 }
    repository: main
retry: { attempts: 5, backoffSec: 10 }
staleRunAfterSec: 45
`;

function rejects(text: string, field: RegExp): void {
  assert.throws(
    () => parseConfig(text),
    (e: unknown) => {
      const err = e as { code?: string; message?: string };
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.match(err.message ?? '', field);
      return true;
    },
  );
}

describe('config', () => {
  it('reads a full configuration with defaults filled in', () => {
    const c = parseConfig(BASE);
    assert.deepEqual(c.hosts, [
      { name: 'kvm-1', address: 'kvm-1.lan:7443', maxConcurrentBackups: 2 },
      { name: 'kvm-2', address: '10.0.0.2:7443', maxConcurrentBackups: 4 },
    ]);
    assert.deepEqual(c.repositories, [{ name: 'main', maxConcurrent: 8 }]);
    const [p] = c.policies;
    assert.deepEqual(p?.retention, { keepLast: 7, keepDaily: 14, keepWeekly: 0, keepMonthly: 0 });
    assert.deepEqual(p?.level, {
      level: 'auto',
      timeZone: 'Europe/Berlin',
      maxChainLength: 6,
      fullOnWeekdays: [0],
    });
    assert.equal(p?.enabled, true);
    assert.deepEqual(c.timings.retry, { attempts: 5, backoffSec: 10 });
    assert.equal(c.timings.staleRunAfterSec, 45);
    assert.equal(c.timings.inventoryIntervalSec, 60);
    assert.equal(c.queuePrefix, 'virtvault');
  });

  it('names the offending field', () => {
    rejects(BASE.replace('cron: "0 2 * * *"', 'cron: 5'), /policies\[0\]\.cron/);
    rejects(BASE.replace('Europe/Berlin', 'Mars/Olympus'), /policies\[0\]\.timeZone/);
    rejects(BASE.replace('"kvm-1.lan:7443"', '"kvm-1.lan"'), /hosts\[0\]\.address/);
    rejects(
      BASE.replace('maxConcurrentBackups: 4', 'maxConcurrentBackups: 0'),
      /hosts\[1\]\.maxConcurrentBackups/,
    );
    rejects(BASE.replace('keepLast: 7, keepDaily: 14', 'keepLast: 0'), /policies\[0\]\.retention/);
    rejects(BASE.replace('nameGlob:', 'nameGlobb:'), /policies\[0\]\.selector\.nameGlobb/);
    rejects(BASE.replace('name: kvm-2', 'name: kvm-1'), /hosts\[1\]\.name is a duplicate/);
    rejects(BASE.replace('http: { listen: "0.0.0.0:8443" }', ''), /http must be an object/);
    rejects(`${BASE}\nbogus: 1\n`, /bogus is not a known field/);
    rejects('[: not yaml', /not valid YAML/);
  });

  it('bounds periods and RPOs where a timer or the database would overflow', () => {
    // an RPO of 10^6 hours overflowed the database's 32-bit seconds (a 500); a period beyond
    // ~24.8 days made Node's timer fire at once, turning it into a loop
    rejects(
      BASE.replace('repository: main\n', 'repository: main\n    rpoHours: 1000000\n'),
      /policies\[0\]\.rpoHours must be a number from 0.001 to 8784/,
    );
    rejects(
      BASE.replace('staleRunAfterSec: 45', 'staleRunAfterSec: 3000000'),
      /staleRunAfterSec must be a number from 0.1 to 604800/,
    );
    rejects(BASE.replace('backoffSec: 10', 'backoffSec: 1e9'), /retry\.backoffSec/);
    const ok = BASE.replace('repository: main\n', 'repository: main\n    rpoHours: 8784\n');
    assert.equal(parseConfig(ok).policies[0]?.rpoHours, 8784);
  });
});

describe('job ids', () => {
  it('are deterministic, free of ":" and carry the fire time', () => {
    const uuid = 'aaaaaaaa-0000-4000-8000-000000000001';
    const key = {
      policy: 'night_ly',
      domainUuid: uuid.toUpperCase(),
      fireTime: 1_700_000_000_123.7,
    };
    const id = backupJobId(key);
    assert.equal(id, `backup_night_ly_${uuid}_1700000000123`);
    assert.ok(!id.includes(':'));
    assert.equal(backupJobId({ ...key, domainUuid: uuid, fireTime: 1_700_000_000_123 }), id);
    // another policy, or none (a manual run), is another job
    assert.equal(backupJobId({ ...key, policy: 'weekly' }), `backup_weekly_${uuid}_1700000000123`);
    assert.equal(backupJobId({ ...key, policy: null }), `backup_-_${uuid}_1700000000123`);
    assert.equal(pruneJobId({ ...key, policy: null }), `prune_-_${uuid}_1700000000123`);
    assert.ok(!schedulerId('nightly').includes(':'));
    assert.equal(hostOfQueue(hostQueueName('kvm-1')), 'kvm-1');
    assert.equal(hostOfQueue('plan'), null);
  });

  it('back off exponentially with a cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffMs(1000, n)),
      [1000, 2000, 4000, 8000],
    );
    assert.equal(backoffMs(1000, 20), 60_000);
  });
});
