/**
 * Checkpoint XML: build the XML for a new checkpoint, parse what libvirt returns.
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

import { attr, buildXml, child, childText, children, parseRoot, type XmlNode } from './xml.js';

/** One disk of a checkpoint. */
export interface CheckpointDisk {
  /** Disk target (`vda`). */
  name: string;
  /** `bitmap` (tracked) or `no`. */
  checkpoint: 'bitmap' | 'no';
  /** Bitmap name; libvirt defaults it to the checkpoint's name. */
  bitmap?: string;
  /** Bytes changed since the checkpoint (only with the SIZE flag). */
  size?: number;
}

/** What a new checkpoint should look like. */
export interface CheckpointSpec {
  name: string;
  description?: string;
  /** Disks to track; omitted = libvirt's default (every disk that supports it). */
  disks?: CheckpointDisk[];
}

/** A checkpoint as libvirt describes it. */
export interface CheckpointDescription {
  name: string;
  parent?: string;
  description?: string;
  /** Seconds since the epoch. */
  creationTime?: number;
  disks: CheckpointDisk[];
  /** UUID of the embedded domain definition (redefine requires the same UUID). */
  domainUuid?: string;
}

function diskNode(d: CheckpointDisk): XmlNode {
  const n: XmlNode = { '@_name': d.name, '@_checkpoint': d.checkpoint };
  if (d.bitmap !== undefined && d.checkpoint === 'bitmap') {
    n['@_bitmap'] = d.bitmap;
  }
  return n;
}

/** Builds `<domaincheckpoint>` XML for checkpoint creation (alone or with backupBegin). */
export function buildCheckpointXml(spec: CheckpointSpec): string {
  const root: XmlNode = { name: spec.name };
  if (spec.description !== undefined) {
    root['description'] = spec.description;
  }
  if (spec.disks) {
    root['disks'] = { disk: spec.disks.map(diskNode) };
  }
  return buildXml('domaincheckpoint', root);
}

/** Parses `<domaincheckpoint>` XML from virDomainCheckpointGetXMLDesc. */
export function parseCheckpointXml(xml: string): CheckpointDescription {
  const root = parseRoot(xml, 'domaincheckpoint');
  const out: CheckpointDescription = {
    name: childText(root, 'name') ?? '',
    disks: children(child(root, 'disks'), 'disk').map((d) => {
      const disk: CheckpointDisk = {
        name: attr(d, 'name') ?? '',
        checkpoint: attr(d, 'checkpoint') === 'no' ? 'no' : 'bitmap',
      };
      const bitmap = attr(d, 'bitmap');
      if (bitmap !== undefined) {
        disk.bitmap = bitmap;
      }
      const size = attr(d, 'size');
      if (size !== undefined) {
        disk.size = Number(size);
      }
      return disk;
    }),
  };
  const parent = childText(child(root, 'parent'), 'name');
  if (parent !== undefined) {
    out.parent = parent;
  }
  const description = childText(root, 'description');
  if (description !== undefined) {
    out.description = description;
  }
  const created = childText(root, 'creationTime');
  if (created !== undefined) {
    out.creationTime = Number(created);
  }
  const uuid = childText(child(root, 'domain'), 'uuid');
  if (uuid !== undefined) {
    out.domainUuid = uuid;
  }
  return out;
}

const orderedParser = new XMLParser({
  ignoreAttributes: false,
  preserveOrder: true,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
});
const orderedBuilder = new XMLBuilder({ ignoreAttributes: false, preserveOrder: true });

/**
 * The checkpoint XML without its `<parent>`: redefining a checkpoint whose parent's metadata is
 * gone fails ("parent X for moment Y not found"), and only the newest checkpoint is ever needed.
 * Order-preserving, so the embedded domain definition stays exactly as libvirt wrote it.
 */
export function withoutCheckpointParent(xml: string): string {
  const doc = orderedParser.parse(xml) as Record<string, unknown>[];
  for (const node of doc) {
    const body = node['domaincheckpoint'];
    if (Array.isArray(body)) {
      node['domaincheckpoint'] = body.filter(
        (c) => !(typeof c === 'object' && c !== null && 'parent' in c),
      );
    }
  }
  return orderedBuilder.build(doc);
}
