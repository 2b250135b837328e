/**
 * What the agent saw just now about one domain (DESIGN.md section 5): host, state, disks, libvirt
 * checkpoints, and per disk the qcow2 bitmaps with their flags. Built by the hypervisor adapter from
 * QMP `query-named-block-nodes` (running domain) or `qemu-img info` (shut-off domain).
 */

/** Domain run state as far as planning cares. */
export type DomainRunState = 'running' | 'paused' | 'shut-off';

/** One dirty bitmap on a disk's top image, normalised from QMP or qemu-img. */
export interface ObservedBitmap {
  /** Bitmap name. */
  name: string;
  /** Tracks writes (QMP `recording`; qemu-img flag `auto`). */
  recording: boolean;
  /** Stored in the qcow2 file (QMP `persistent`; always true from qemu-img). */
  persistent: boolean;
  /** Not saved by a clean close (QMP `inconsistent`; qemu-img flag `in-use` on an offline image). */
  inconsistent: boolean;
  /** Used by a block job right now (QMP `busy`). */
  busy: boolean;
}

/** One disk of the domain. */
export interface ObservedDisk {
  /** libvirt target, e.g. `vda`. */
  target: string;
  /** Source path (or network name). */
  source: string;
  /** Image format, e.g. `qcow2`, `raw`. */
  format: string;
  /** Virtual size in bytes. */
  virtualSize: number;
  /** QEMU block node name of the top image (running domains), e.g. `libvirt-1-format`. */
  nodeName: string | null;
  /** Whether the image can hold persistent bitmaps (qcow2 v3; not raw, not qcow2 compat=0.10). */
  bitmapsSupported: boolean;
  /** Bitmaps on the top image, ours and others'. */
  bitmaps: ObservedBitmap[];
}

/** A checkpoint whose metadata libvirt has on this host. */
export interface ObservedCheckpoint {
  /** Checkpoint name. */
  name: string;
  /** Parent checkpoint name, if libvirt reports one. */
  parent: string | null;
}

/** The observation of one domain. */
export interface ObservedDomain {
  /** Host name the domain runs (or is defined) on. */
  host: string;
  /** Identity and state. */
  domain: { uuid: string; name: string; state: DomainRunState; transient: boolean };
  /** Disks to back up (cdroms, floppies and read-only shareables excluded by the adapter). */
  disks: ObservedDisk[];
  /** Checkpoints libvirt knows on this host. */
  checkpoints: ObservedCheckpoint[];
}

/** A bitmap entry of QMP `query-named-block-nodes` / `query-block` (`dirty-bitmaps`). */
export interface QmpDirtyBitmap {
  name: string;
  recording: boolean;
  persistent: boolean;
  busy: boolean;
  inconsistent?: boolean;
}

/** Normalises a QMP dirty-bitmap entry (QMP omits `inconsistent` when false). */
export function fromQmpBitmap(b: QmpDirtyBitmap): ObservedBitmap {
  return {
    name: b.name,
    recording: b.recording,
    persistent: b.persistent,
    inconsistent: b.inconsistent === true,
    busy: b.busy,
  };
}

/**
 * Normalises a bitmap of `qemu-img info --output=json` (`format-specific.data.bitmaps[]`, flags
 * `auto` and `in-use`). Only meaningful for an image no QEMU has open: there `in-use` means the
 * bitmap was not saved by a clean close (lab.md section 7).
 */
export function fromQemuImgBitmap(name: string, flags: readonly string[]): ObservedBitmap {
  return {
    name,
    recording: flags.includes('auto'),
    persistent: true,
    inconsistent: flags.includes('in-use'),
    busy: false,
  };
}
