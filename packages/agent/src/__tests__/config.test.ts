import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseConfig } from '../config.js';
import { AgentError } from '../errors.js';

const DEFAULTS = { hostName: 'sys-host', baseDir: '/etc/virtvault' };

const VALID = `
listen: 0.0.0.0:7443
tls: { ca: ca.crt, cert: /pki/host-a.crt, key: host-a.key }
controllerName: controller
repositories:
  - { name: main, path: /backups/main, create: true }
  - { name: offsite, path: ../offsite }
`;

function invalid(field: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof AgentError, String(e));
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.match(e.message, field);
    return true;
  };
}

describe('agent config', () => {
  it('parses a valid file with defaults and paths relative to the file', () => {
    const c = parseConfig(VALID, DEFAULTS);
    assert.deepEqual(c, {
      listenHost: '0.0.0.0',
      listenPort: 7443,
      hostName: 'sys-host',
      tls: {
        ca: '/etc/virtvault/ca.crt',
        cert: '/pki/host-a.crt',
        key: '/etc/virtvault/host-a.key',
      },
      controllerName: 'controller',
      libvirtUri: 'qemu:///system',
      repositories: [
        { name: 'main', path: '/backups/main', create: true },
        { name: 'offsite', path: '/etc/offsite', create: false },
      ],
      scratchDir: '/var/tmp/virtvault',
      restoreRoots: ['/var/lib/libvirt/images'],
      maxConcurrentBackups: 2,
    });
    const roots = parseConfig(`${VALID}restoreRoots: [/srv/restores, restored]\n`, DEFAULTS);
    assert.deepEqual(roots.restoreRoots, ['/srv/restores', '/etc/virtvault/restored']);
    const ipv6 = parseConfig(
      `${VALID}listen: "[::1]:0"\nhostName: host-a\n`.replace(/^listen: 0.*$/m, ''),
      DEFAULTS,
    );
    assert.equal(ipv6.listenHost, '::1');
    assert.equal(ipv6.listenPort, 0);
    assert.equal(ipv6.hostName, 'host-a');
  });

  it('names the field of every error', () => {
    const cases: [string, RegExp][] = [
      ['listen: [', /not valid YAML/],
      ['- a\n- b', /must be a YAML map/],
      [VALID.replace('listen: 0.0.0.0:7443', 'listen: 7443'), /listen must be host:port/],
      [VALID.replace('listen: 0.0.0.0:7443', 'listen: a:70000'), /listen must be host:port/],
      [VALID.replace(/^tls:.*$/m, 'tls: /etc/pki'), /tls must be a map/],
      [VALID.replace('key: host-a.key', 'key: ""'), /tls\.key must be a non-empty string/],
      [VALID.replace('key: host-a.key', 'pem: x'), /tls\.pem is unknown/],
      [VALID.replace('controllerName: controller', ''), /controllerName is required/],
      [`${VALID}restoreRoots: []\n`, /restoreRoots must be a non-empty list/],
      [`${VALID}restoreRoots: [7]\n`, /restoreRoots\[0\] must be a directory path/],
      [
        VALID.replace(/repositories:[\s\S]*$/, 'repositories: []'),
        /repositories must be a non-empty list/,
      ],
      [
        VALID.replace('name: offsite', 'name: main'),
        /repositories\[1\]\.name "main" must be unique/,
      ],
      [
        VALID.replace('create: true', 'create: yes please'),
        /repositories\[0\]\.create must be true or false/,
      ],
      [VALID.replace('path: ../offsite', 'size: 3'), /repositories\[1\]\.size is unknown/],
      [`${VALID}maxConcurrentBackups: 0\n`, /maxConcurrentBackups must be a whole number/],
      [`${VALID}maxConcurrentBackups: 1.5\n`, /maxConcurrentBackups must be a whole number/],
      [`${VALID}listenPort: 1\n`, /listenPort is unknown/],
    ];
    for (const [text, field] of cases) {
      assert.throws(() => parseConfig(text, DEFAULTS), invalid(field), field.source);
    }
  });
});
