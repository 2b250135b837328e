import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { LibvirtEvent } from '@virtvault/libvirt';

import { toAgentEvent } from '../events.js';
import { parseTags } from '../tags.js';

const dom = (meta: string) =>
  `<domain type='kvm'><name>web1</name><metadata>${meta}</metadata><devices/></domain>`;

describe('agent: domain tags from <metadata>', () => {
  it('reads our namespace under any prefix, whitespace or comma separated, deduplicated', () => {
    assert.deepEqual(
      parseTags(dom('<vv:tags xmlns:vv="https://virtvault.dev/xmlns/1">web db</vv:tags>')),
      ['web', 'db'],
    );
    assert.deepEqual(
      parseTags(
        dom('<x:tags xmlns:x="https://virtvault.dev/xmlns/1">\n web, db,,gold web </x:tags>'),
      ),
      ['web', 'db', 'gold'],
    );
    assert.deepEqual(parseTags(dom('<tags xmlns="https://virtvault.dev/xmlns/1">a&amp;b</tags>')), [
      'a&b',
    ]);
  });

  it('ignores other namespaces and domains without tags', () => {
    assert.deepEqual(parseTags(dom('<o:tags xmlns:o="https://other.example/1">web</o:tags>')), []);
    assert.deepEqual(parseTags(dom('')), []);
    assert.deepEqual(
      parseTags(dom('<vv:tags xmlns:vv="https://virtvault.dev/xmlns/1"></vv:tags>')),
      [],
    );
  });
});

describe('agent: libvirt events → fleet events', () => {
  const domain = { name: 'web1', uuid: 'u-1' };
  const at = 1_000;
  const life = (event: string, detail: number) =>
    toAgentEvent({ type: 'lifecycle', domain, event, detail } as LibvirtEvent, 'host-a', at);

  it('tells migration from start and stop by libvirt detail', () => {
    assert.deepEqual(life('started', 1), {
      atMs: at,
      host: 'host-a',
      domainUuid: 'u-1',
      domainName: 'web1',
      kind: 'migrated-in',
      detail: 'started: migrated',
    });
    assert.equal(life('started', 0)?.kind, 'started');
    assert.equal(life('stopped', 3)?.kind, 'migrated-out');
    assert.equal(life('stopped', 1)?.detail, 'stopped: destroyed');
    assert.equal(life('stopped', 1)?.kind, 'stopped');
    assert.equal(life('crashed', 0)?.kind, 'stopped');
    assert.equal(life('suspended', 1)?.detail, 'suspended: migrated');
    assert.equal(life('defined', 1)?.kind, 'defined');
    assert.equal(life('undefined', 0)?.kind, 'undefined');
    assert.equal(life('resumed', 0)?.kind, 'resumed');
    assert.equal(life('pmsuspended', 0)?.kind, 'suspended');
    assert.equal(life('shutdown', 1), null);
  });

  it('maps jobs and connection loss; leaves block jobs out', () => {
    const ok = toAgentEvent(
      { type: 'job-completed', domain, failed: false, stats: { operation: 9 } },
      'host-a',
      at,
    );
    assert.equal(ok?.kind, 'job-completed');
    const bad = toAgentEvent(
      { type: 'job-completed', domain, failed: true, stats: { operation: 9, errmsg: 'no space' } },
      'host-a',
      at,
    );
    assert.deepEqual([bad?.kind, bad?.detail], ['job-failed', 'operation 9: no space']);
    const lost = toAgentEvent({ type: 'close', reason: 'keepalive' }, 'host-a', at);
    assert.deepEqual([lost?.kind, lost?.domainUuid], ['connection-lost', '']);
    const block = { type: 'block-job', domain, disk: 'vda', jobType: 8, status: 'completed' };
    assert.equal(toAgentEvent(block as LibvirtEvent, 'host-a', at), null);
  });
});
