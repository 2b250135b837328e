/**
 * Certificate identity as both ends check it: the names a certificate is for are its SAN DNS
 * entries, or its subject CN when it has none (RFC 6125; CN alone is legacy but common in
 * private CAs).
 */
import type { PeerCertificate } from 'node:tls';

/**
 * One `subjectaltname` entry: `TYPE:value`, where node writes a value holding a comma, quote or
 * other special character as a JSON string. Splitting on commas would read a crafted
 * `email:"x, DNS:controller"` as a DNS name (the pattern of CVE-2021-44532).
 */
const SAN_ENTRY_SOURCE = /\s*([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,"][^,]*|)\s*(?:,|$)/y;

/** The entries of node's `subjectaltname` string as [type, value]; null when it is malformed. */
export function parseSubjectAltName(san: string): [string, string][] | null {
  const out: [string, string][] = [];
  const SAN_ENTRY = new RegExp(SAN_ENTRY_SOURCE);
  while (SAN_ENTRY.lastIndex < san.length) {
    const at = SAN_ENTRY.lastIndex;
    const m = SAN_ENTRY.exec(san);
    if (m === null || SAN_ENTRY.lastIndex === at) {
      return null;
    }
    const raw = m[2] ?? '';
    try {
      out.push([m[1] ?? '', raw.startsWith('"') ? String(JSON.parse(raw)) : raw]);
    } catch {
      return null;
    }
  }
  return out;
}

/** The DNS names a certificate names (SAN DNS, else CN); none when its SAN cannot be read. */
export function certificateNames(cert: PeerCertificate | null | undefined): string[] {
  if (!cert || Object.keys(cert).length === 0) {
    return [];
  }
  const entries = parseSubjectAltName(cert.subjectaltname ?? '');
  if (entries === null) {
    return [];
  }
  const san = entries.filter(([type]) => type === 'DNS').map(([, value]) => value);
  if (san.length > 0) {
    return san;
  }
  const cn = cert.subject?.CN;
  return typeof cn === 'string' ? [cn] : [];
}

/** True when the certificate names `name` exactly (no wildcards: our CA issues none). */
export function certificateIsFor(cert: PeerCertificate | null | undefined, name: string): boolean {
  return certificateNames(cert).includes(name);
}
