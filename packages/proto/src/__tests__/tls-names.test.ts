import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerCertificate } from 'node:tls';

import { certificateIsFor, certificateNames, parseSubjectAltName } from '../tls-names.js';

const cert = (subjectaltname: string | undefined, cn = 'cn-name'): PeerCertificate =>
  ({
    subject: { CN: cn },
    ...(subjectaltname === undefined ? {} : { subjectaltname }),
  }) as unknown as PeerCertificate;

describe('certificate names', () => {
  it('reads SAN DNS entries, else the CN', () => {
    assert.deepEqual(certificateNames(cert('DNS:lab-a, IP Address:127.0.0.1, DNS:lab-a.lan')), [
      'lab-a',
      'lab-a.lan',
    ]);
    assert.deepEqual(certificateNames(cert(undefined)), ['cn-name']);
    assert.deepEqual(certificateNames(cert('IP Address:10.0.0.1')), ['cn-name']);
    assert.deepEqual(certificateNames(null), []);
  });

  it('never takes a DNS name out of another entry quoted by node (CVE-2021-44532 pattern)', () => {
    // node JSON-quotes a value holding a comma; splitting on commas would find DNS:controller
    const crafted = cert('email:"x, DNS:controller, y", DNS:agent-a');
    assert.deepEqual(certificateNames(crafted), ['agent-a']);
    assert.equal(certificateIsFor(crafted, 'controller'), false);
    assert.equal(certificateIsFor(crafted, 'agent-a'), true);
    assert.equal(certificateIsFor(cert('URI:"a,DNS:controller"'), 'controller'), false);
  });

  it('trusts no name of a SAN it cannot read', () => {
    assert.equal(parseSubjectAltName('email:"unterminated, DNS:controller'), null);
    assert.deepEqual(certificateNames(cert('email:"unterminated, DNS:controller')), []);
    assert.deepEqual(parseSubjectAltName('DNS:"we\\"ird", DNS:b'), [
      ['DNS', 'we"ird'],
      ['DNS', 'b'],
    ]);
  });
});
