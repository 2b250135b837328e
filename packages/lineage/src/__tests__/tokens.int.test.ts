import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { TokenStore, roleAllows } from '../token-store.js';
import { createTestDatabase } from './test-db.js';

describe('TokenStore (Postgres)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let store: TokenStore;
  const t0 = Date.UTC(2026, 10, 25, 12, 0, 0);

  before(async () => {
    db = await createTestDatabase();
    store = await TokenStore.connect({ url: db.url });
  });
  after(async () => {
    await store.close();
    await db.drop();
  });

  it('creates a token shown once, stores only its hash, and verifies it', async () => {
    const { token, info } = await store.create({ name: 'ops', role: 'operator', now: t0 });
    assert.match(token, /^vvt_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    assert.equal(info.role, 'operator');
    const verified = await store.verify(token, t0 + 1000);
    assert.equal(verified?.name, 'ops');
    const listed = await store.list();
    assert.equal(listed.length, 1);
    assert.ok(!JSON.stringify(listed).includes(token.slice(17)), 'secret never listed');
  });

  it('refuses wrong secrets, unknown ids and malformed tokens', async () => {
    const { token } = await store.create({ name: 'viewer1', role: 'viewer', now: t0 });
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    assert.equal(await store.verify(flipped, t0), null);
    assert.equal(await store.verify(`vvt_000000000000_${'A'.repeat(43)}`, t0), null);
    assert.equal(await store.verify('Bearer nonsense', t0), null);
  });

  it('refuses expired and revoked tokens', async () => {
    const exp = await store.create({
      name: 'short',
      role: 'admin',
      now: t0,
      expiresAt: t0 + 60_000,
    });
    assert.ok(await store.verify(exp.token, t0 + 59_000));
    assert.equal(await store.verify(exp.token, t0 + 60_000), null);
    const rev = await store.create({ name: 'gone', role: 'admin', now: t0 });
    assert.equal(await store.revoke('gone', t0 + 5), true);
    assert.equal(await store.revoke('gone', t0 + 6), false);
    assert.equal(await store.verify(rev.token, t0 + 10), null);
  });

  it("revokes by id before by name: a name that is another token's id ends one token", async () => {
    const a = await store.create({ name: 'id-holder', role: 'viewer', now: t0 });
    const b = await store.create({ name: a.info.id, role: 'viewer', now: t0 });
    assert.equal(await store.revoke(a.info.id, t0 + 1), true);
    assert.equal(await store.verify(a.token, t0 + 2), null);
    assert.notEqual(await store.verify(b.token, t0 + 2), null, 'the token of that name stays');
    // no live token has that id now: the name is meant
    assert.equal(await store.revoke(a.info.id, t0 + 3), true);
    assert.equal(await store.verify(b.token, t0 + 4), null);
  });

  it('rejects duplicate names and bad input with stable codes', async () => {
    await store.create({ name: 'dup', role: 'viewer', now: t0 });
    await assert.rejects(store.create({ name: 'dup', role: 'viewer', now: t0 }), {
      code: 'TOKEN_EXISTS',
    });
    await assert.rejects(store.create({ name: '../x', role: 'viewer', now: t0 }), {
      code: 'TOKEN_INVALID',
    });
  });

  it('orders roles viewer < operator < admin', () => {
    assert.equal(roleAllows('admin', 'operator'), true);
    assert.equal(roleAllows('operator', 'operator'), true);
    assert.equal(roleAllows('viewer', 'operator'), false);
  });
});
