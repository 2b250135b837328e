/**
 * Test databases: a fresh database per test file on the test Postgres server
 * (`VV_TEST_DATABASE_URL`, default the lab's 127.0.0.1:55432), and a shared-store view for PGlite.
 * A missing server is a failure, never a skip.
 */
import { randomBytes } from 'node:crypto';

import postgres from 'postgres';

import type { PgLineageStore } from '../pg-lineage-store.js';

/** The lab's test server unless the environment names another. */
export const TEST_SERVER_URL =
  process.env['VV_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:55432/postgres';

/** A fresh database on the test server, dropped by `drop`. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `lineage_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(TEST_SERVER_URL, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(TEST_SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/** The same store, with a no-op `close` (PGlite serves one connection; its owner closes it). */
export function sharedView(store: PgLineageStore): PgLineageStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'close') {
        return () => Promise.resolve();
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
