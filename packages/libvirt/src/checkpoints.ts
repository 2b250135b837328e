/**
 * A domain's checkpoints, addressed by name.
 */
import { native, type DomHandle } from './binding.js';
import { call } from './errors.js';
import {
  CheckpointCreateFlags,
  CheckpointDeleteFlags,
  CheckpointListFlags,
  CheckpointXmlFlags,
} from './flags.js';
import { parseCheckpointXml, type CheckpointDescription } from './xml/checkpoint-xml.js';

/** A checkpoint and its parent (absent for a root). */
export interface CheckpointInfo {
  name: string;
  parent?: string;
}

/** Options of {@link Checkpoints.create}. */
export interface CheckpointCreateOptions {
  /** Restore metadata from XML that libvirt once produced (no new bitmaps). */
  redefine?: boolean;
  /** With redefine: check that every disk's bitmap exists and is consistent (running domain only). */
  redefineValidate?: boolean;
  /** Freeze guest filesystems through the guest agent. */
  quiesce?: boolean;
}

/** Options of {@link Checkpoints.delete}. */
export interface CheckpointDeleteOptions {
  /** Drop libvirt's metadata only; leave the bitmaps in the images. */
  metadataOnly?: boolean;
  /** Also delete descendants. */
  children?: boolean;
  /** Delete the descendants only. */
  childrenOnly?: boolean;
}

/** Checkpoint operations of one domain (`domain.checkpoints`). */
export class Checkpoints {
  /**
   * @param handle the domain's native handle
   * @param domainName for error messages
   */
  constructor(
    private readonly handle: DomHandle,
    private readonly domainName: string,
  ) {}

  /** Creates (or with `redefine` restores) a checkpoint from XML; returns its name and parent. */
  async create(xml: string, options: CheckpointCreateOptions = {}): Promise<CheckpointInfo> {
    const flags =
      (options.redefine ? CheckpointCreateFlags.REDEFINE : 0) |
      (options.redefineValidate
        ? CheckpointCreateFlags.REDEFINE_VALIDATE | CheckpointCreateFlags.REDEFINE
        : 0) |
      (options.quiesce ? CheckpointCreateFlags.QUIESCE : 0);
    return call(`checkpoint-create ${this.domainName}`, () =>
      native.checkpointCreate(this.handle, xml, flags),
    );
  }

  /** All checkpoints with parents, parents before children (topological) unless `flags` say otherwise. */
  async list(flags: number = CheckpointListFlags.TOPOLOGICAL): Promise<CheckpointInfo[]> {
    return call(`checkpoint-list ${this.domainName}`, () =>
      native.checkpointList(this.handle, flags),
    );
  }

  /** Looks up a checkpoint; rejects with VIR_ERR_NO_DOMAIN_CHECKPOINT if absent. */
  async lookup(name: string): Promise<CheckpointInfo> {
    return call(`checkpoint ${this.domainName}/${name}`, () =>
      native.checkpointLookup(this.handle, name),
    );
  }

  /** The checkpoint's XML; by default with the domain XML inside (what redefine needs). */
  async xml(name: string, options: { noDomain?: boolean; size?: boolean } = {}): Promise<string> {
    const flags =
      (options.noDomain ? CheckpointXmlFlags.NO_DOMAIN : 0) |
      (options.size ? CheckpointXmlFlags.SIZE : 0);
    return call(`checkpoint-dumpxml ${this.domainName}/${name}`, () =>
      native.checkpointGetXml(this.handle, name, flags),
    );
  }

  /** The checkpoint's XML, parsed. */
  async describe(name: string, options: { size?: boolean } = {}): Promise<CheckpointDescription> {
    return parseCheckpointXml(await this.xml(name, options));
  }

  /** Deletes a checkpoint (and its bitmaps unless `metadataOnly`). Delete leaf-first. */
  async delete(name: string, options: CheckpointDeleteOptions = {}): Promise<void> {
    const flags =
      (options.metadataOnly ? CheckpointDeleteFlags.METADATA_ONLY : 0) |
      (options.children ? CheckpointDeleteFlags.CHILDREN : 0) |
      (options.childrenOnly ? CheckpointDeleteFlags.CHILDREN_ONLY : 0);
    await call(`checkpoint-delete ${this.domainName}/${name}`, () =>
      native.checkpointDelete(this.handle, name, flags),
    );
  }
}
