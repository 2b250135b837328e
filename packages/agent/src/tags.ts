/**
 * Policy selector tags of a domain, from its libvirt metadata:
 *
 * ```xml
 * <metadata>
 *   <vv:tags xmlns:vv="https://virtvault.dev/xmlns/1">web db</vv:tags>
 * </metadata>
 * ```
 *
 * Tags are separated by whitespace or commas. Set them with
 * `virsh metadata DOMAIN https://virtvault.dev/xmlns/1 --key vv --set '<tags>web db</tags>' --config`
 * (add `--live` for a running domain). The prefix is free; the namespace URI is what counts.
 */

/** Our metadata namespace. */
export const TAGS_NAMESPACE = 'https://virtvault.dev/xmlns/1';

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (_m, e: string) => ENTITIES[e] ?? '');
}

/**
 * The tags in a domain XML; empty when it has none. libvirt writes each metadata element with
 * its own namespace declaration, so a scan for `<P:tags xmlns:P="…">` finds ours without a
 * namespace-aware parser.
 */
export function parseTags(domainXml: string): string[] {
  const re = /<(?:([\w.-]+):)?tags\b([^>]*)>([^<]*)<\/(?:[\w.-]+:)?tags>/g;
  for (const m of domainXml.matchAll(re)) {
    const prefix = m[1];
    const attrs = m[2] ?? '';
    const decl = prefix === undefined ? 'xmlns' : `xmlns:${prefix}`;
    if (
      attrs.includes(`${decl}="${TAGS_NAMESPACE}"`) ||
      attrs.includes(`${decl}='${TAGS_NAMESPACE}'`)
    ) {
      const seen = new Set<string>();
      for (const t of unescapeXml(m[3] ?? '').split(/[\s,]+/)) {
        if (t !== '') {
          seen.add(t);
        }
      }
      return [...seen];
    }
  }
  return [];
}
