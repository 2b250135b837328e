/**
 * The host's inventory as the controller polls it: every domain with its state, tags, disks and
 * checkpoints. One domain that cannot be observed never fails the listing of the others.
 */
import { stableErrorCode, type InventoryDomain } from '@virtvault/core';
import { LibvirtHypervisor, runState } from '@virtvault/engine';
import type { Connection, Domain } from '@virtvault/libvirt';

import { AgentError, translateError } from './errors.js';
import { parseTags } from './tags.js';

/** Options of {@link listInventory}. */
export interface InventoryOptions {
  /** Aborted when the caller went away: the listing stops between domains. */
  signal?: AbortSignal;
  /** One log line per domain listed without its observation. */
  log: (event: string, fields: Record<string, unknown>) => void;
}

/** True for the error of a domain undefined (or a transient one ended) since the listing. */
function isGone(err: unknown): boolean {
  return err instanceof AgentError && err.code === 'DOMAIN_NOT_FOUND';
}

/**
 * Every domain of the host, by name; domains gone meanwhile are left out, and a domain that
 * cannot be observed is listed without disks and checkpoints (see {@link unobserved}).
 */
export async function listInventory(
  conn: Connection,
  host: string,
  o: InventoryOptions,
): Promise<InventoryDomain[]> {
  // without the scratch folder: observing for a backup refuses a domain whose backup job runs
  // (BACKUP_JOB_ACTIVE, ours included), which here failed the whole host's inventory, and the
  // controller took the host for down during every backup
  const hv = new LibvirtHypervisor(conn, host);
  const out: InventoryDomain[] = [];
  for (const d of await conn.listDomains()) {
    // each domain is a few libvirt calls, and a qemu-img per disk of a stopped one
    o.signal?.throwIfAborted();
    const entry = await inventoryEntry(hv, d, o);
    if (entry !== null) {
      out.push(entry);
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** One domain of the listing, or null when it is gone. */
async function inventoryEntry(
  hv: LibvirtHypervisor,
  d: Domain,
  o: InventoryOptions,
): Promise<InventoryDomain | null> {
  try {
    const obs = await hv.observe(d.uuid);
    const tags = parseTags(await d.xml());
    return { ...obs.domain, tags, disks: obs.disks, checkpoints: obs.checkpoints };
  } catch (e) {
    const err = translateError(e);
    return isGone(err) ? null : unobserved(d, err, o);
  }
}

/**
 * A domain whose observation failed, listed with what libvirt alone tells (state, tags) and no
 * disks or checkpoints. One stopped domain whose image is missing (`QEMU_IMG_FAILED`) or open
 * elsewhere (`DISK_IN_USE`: the definition a live migration left behind) failed the whole
 * listing, and the controller took the host for down; left out, the domain would be marked gone.
 * Listed shut off, it never takes the domain from the host where it runs (the fleet store keeps a
 * running domain where it runs). When libvirt cannot tell even this, the listing fails.
 */
async function unobserved(
  d: Domain,
  err: unknown,
  o: InventoryOptions,
): Promise<InventoryDomain | null> {
  try {
    const status = await d.status();
    const tags = parseTags(await d.xml());
    const error = err instanceof Error ? err.message : String(err);
    o.log('domain-unobserved', { domain: d.name, code: stableErrorCode(err), error });
    const state = runState(status.state, status.active);
    return {
      uuid: d.uuid,
      name: d.name,
      state,
      transient: !status.persistent,
      tags,
      disks: [],
      checkpoints: [],
    };
  } catch (e) {
    const again = translateError(e);
    if (isGone(again)) {
      return null;
    }
    throw again;
  }
}
