/**
 * Shared fast-xml-parser setup and a small typed accessor layer over its output.
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/** An element as fast-xml-parser returns it: attributes as `@_name`, text as `#text`. */
export type XmlNode = { [key: string]: unknown };

/** Elements that may repeat in libvirt XML and must always parse as arrays. */
const ARRAY_TAGS = new Set(['disk', 'host', 'domaincheckpoint']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  isArray: (tagName: string) => ARRAY_TAGS.has(tagName),
});

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
});

/** Parses XML text; throws if the root element `root` is missing. */
export function parseRoot(xml: string, root: string): XmlNode {
  const doc = parser.parse(xml) as XmlNode;
  const node = asNode(doc[root]);
  if (!node) {
    throw new Error(`expected <${root}> XML`);
  }
  return node;
}

/** Serialises `{ root: node }` to XML text. */
export function buildXml(root: string, node: XmlNode): string {
  return builder.build({ [root]: node });
}

/** Normalises a parsed value to an element: text-only and empty elements become `{#text}`. */
export function asNode(v: unknown): XmlNode | undefined {
  if (v === undefined || v === null) {
    return undefined;
  }
  if (typeof v === 'string') {
    return { '#text': v };
  }
  if (Array.isArray(v)) {
    return asNode(v[0]);
  }
  return typeof v === 'object' ? (v as XmlNode) : undefined;
}

/** The first child element `name`. */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return node ? asNode(node[name]) : undefined;
}

/** All child elements `name`. */
export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const v = node?.[name];
  if (v === undefined) {
    return [];
  }
  return (Array.isArray(v) ? v : [v]).map(asNode).filter((n): n is XmlNode => n !== undefined);
}

/** Attribute `name` of `node`. */
export function attr(node: XmlNode | undefined, name: string): string | undefined {
  const v = node?.[`@_${name}`];
  return typeof v === 'string' ? v : undefined;
}

/** Text content of `node`. */
export function text(node: XmlNode | undefined): string | undefined {
  const v = node?.['#text'];
  return typeof v === 'string' ? v : undefined;
}

/** Text of the child element `name`. */
export function childText(node: XmlNode | undefined, name: string): string | undefined {
  return text(child(node, name));
}

/** True if the child element `name` exists (e.g. `<readonly/>`). */
export function hasChild(node: XmlNode | undefined, name: string): boolean {
  return node !== undefined && node[name] !== undefined;
}
