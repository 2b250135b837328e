export * from './errors.js';
export * from './pg-lineage-store.js';
export * from './embedded.js';
export * from './rebuild.js';
export { migrate } from './migrate.js';
export type { RunRow, EventRow } from './rows.js';
export * from './token-store.js';
export * from './fleet-types.js';
export * from './fleet-store.js';
