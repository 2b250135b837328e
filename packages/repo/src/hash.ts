import { createHash } from 'node:crypto';

/** Hex SHA-256 of a buffer. */
export function sha256hex(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}
