/**
 * Plan hints of the standalone mode: what each domain's last runs left in the lineage, one JSON
 * file per domain under `<state>/hints/`: the domain's checkpoints (the lineage keeps them for
 * every repository) and its snapshots per repository. A hint only lets a backup start while the
 * embedded lineage opens; a wrong, stale or torn one costs a cancelled start, never a wrong
 * backup (core's `early-start.ts`).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { DomainLineage, LineageSnapshot, PlanHints } from '@virtvault/core';

import { CliError } from './output.js';

/** What one hint file holds. */
interface HintFile {
  version: 2;
  domain: DomainLineage['domain'];
  checkpoints: DomainLineage['checkpoints'];
  /** Snapshots of the domain by repository. */
  snapshots: Record<string, LineageSnapshot[]>;
  /** The lineage's owner tag (absent in hints written before owners existed). */
  owner?: string;
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

  /**
   * See {@link PlanHints.load}: null without the lock or a hint for the domain. A repository the
   * domain's hint does not name is taken to hold none of its snapshots (a new repository).
   */
  async load(repository: string, domainUuid: string): Promise<DomainLineage | null> {
    try {
      await this.locked;
      const hint = await this.#read(domainUuid);
      if (hint === null) {
        return null;
      }
      const snapshots = hint.snapshots[repository] ?? [];
      const { domain, checkpoints, owner } = hint;
      return { repository, domain, snapshots, checkpoints, ...(owner ? { owner } : {}) };
    } catch {
      return null;
    }
  }

  /** See {@link PlanHints.save}; written whole or not at all (temp file, rename). */
  async save(lineage: DomainLineage): Promise<void> {
    const uuid = lineage.domain.uuid;
    const old = await this.#read(uuid).catch(() => null);
    const doc: HintFile = {
      version: 2,
      domain: lineage.domain,
      checkpoints: lineage.checkpoints,
      snapshots: { ...old?.snapshots, [lineage.repository]: lineage.snapshots },
      ...(lineage.owner !== undefined ? { owner: lineage.owner } : {}),
    };
    await mkdir(this.#dir, { recursive: true });
    const file = this.#file(uuid);
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(doc));
    await rename(temp, file);
  }

  async #read(domainUuid: string): Promise<HintFile | null> {
    const text = await readFile(this.#file(domainUuid), 'utf8').catch(() => null);
    const hint = text === null ? null : (JSON.parse(text) as Partial<HintFile>);
    if (hint?.version !== 2 || hint.domain?.uuid !== domainUuid) {
      return null;
    }
    return hint as HintFile;
  }

  #file(domainUuid: string): string {
    if (!/^[0-9a-f-]{36}$/i.test(domainUuid)) {
      throw new CliError('INTERNAL', `not a domain uuid: ${domainUuid}`);
    }
    return path.join(this.#dir, `${domainUuid.toLowerCase()}.json`);
  }
}
