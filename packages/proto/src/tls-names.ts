/**
 * Certificate identity as both ends check it: the names a certificate is for are its SAN DNS
 * entries, or its subject CN when it has none (RFC 6125; CN alone is legacy but common in
 * private CAs).
 */
import type { PeerCertificate } from 'node:tls';

/** The DNS names a certificate names (SAN DNS, else CN). */
export function certificateNames(cert: PeerCertificate | null | undefined): string[] {
  if (!cert || Object.keys(cert).length === 0) {
    return [];
  }
  const san = (cert.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
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
