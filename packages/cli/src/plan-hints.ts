/**
 * Plan hints of the standalone mode: the lineage each domain's last run left, one JSON file per
 * domain and repository under `<state>/hints/`. A hint only lets a backup start while the embedded lineage opens;
 * a wrong, stale or torn one costs a cancelled start, never a wrong backup (core's
 * `early-start.ts`).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { DomainLineage, PlanHints } from '@virtvault/core';

import { CliError } from './output.js';

/** What one hint file holds. */
interface HintFile {
  version: 1;
  lineage: DomainLineage;
}

/** Hints as files in a state directory whose lock this process holds (or is taking). */
export class PlanHintFiles implements PlanHints {
  readonly #dir: string;

  /**
   * @param stateDir the state directory
   * @param locked settles once this process holds the state lock: until then another process may
   *   be backing the same domain up, and an early start would get in its way
   */
  constructor(
    stateDir: string,
    private readonly locked: Promise<void>,
  ) {
    this.#dir = path.join(stateDir, 'hints');
  }

  /** See {@link PlanHints.load}; null without the lock, a hint, or one for `repository`. */
  async load(repository: string, domainUuid: string): Promise<DomainLineage | null> {
    try {
      await this.locked;
      const text = await readFile(this.#file(repository, domainUuid), 'utf8');
      const hint = JSON.parse(text) as Partial<HintFile>;
      const lineage = hint.version === 1 ? hint.lineage : undefined;
      return lineage?.repository === repository && lineage.domain.uuid === domainUuid
        ? lineage
        : null;
    } catch {
      return null;
    }
  }

  /** See {@link PlanHints.save}; written whole or not at all (temp file, rename). */
  async save(lineage: DomainLineage): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const file = this.#file(lineage.repository, lineage.domain.uuid);
    const temp = `${file}.${process.pid}.tmp`;
    const doc: HintFile = { version: 1, lineage };
    await writeFile(temp, JSON.stringify(doc));
    await rename(temp, file);
  }

  /** One file per domain and repository (a domain may be backed up into several). */
  #file(repository: string, domainUuid: string): string {
    if (!/^[0-9a-f-]{36}$/i.test(domainUuid)) {
      throw new CliError('INTERNAL', `not a domain uuid: ${domainUuid}`);
    }
    const repo = createHash('sha256').update(repository).digest('hex').slice(0, 16);
    return path.join(this.#dir, `${domainUuid.toLowerCase()}-${repo}.json`);
  }
}
