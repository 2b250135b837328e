/**
 * The heavy packages, imported on first use. Most commands need one or two of them, and
 * `virtvault fleet …`, `--help` and `--version` none: loading all of them up front cost every
 * invocation ~0.4 s (the libvirt addon, PGlite, the Postgres client, the engine).
 */
import type * as Engine from '@virtvault/engine';
import type * as Lineage from '@virtvault/lineage';
import type * as Repo from '@virtvault/repo';

/** `@virtvault/engine` (and with it libvirt, NBD and the repository). */
export const loadEngine = (): Promise<typeof Engine> => import('@virtvault/engine');

/** `@virtvault/lineage` (PGlite, the Postgres client). */
export const loadLineage = (): Promise<typeof Lineage> => import('@virtvault/lineage');

/** `@virtvault/repo`. */
export const loadRepo = (): Promise<typeof Repo> => import('@virtvault/repo');
