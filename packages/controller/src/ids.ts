/**
 * ULIDs (as the CLI makes them): 48 bits of milliseconds and 80 random bits in Crockford base32,
 * 26 characters that sort by time. Run ids, snapshot ids and checkpoint names (`vv-<ulid>`).
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A new ULID for the given time. */
export function ulid(now: number): string {
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = (ALPHABET[t % 32] as string) + time;
    t = Math.floor(t / 32);
  }
  let bits = 0n;
  for (const b of randomBytes(10)) {
    bits = (bits << 8n) | BigInt(b);
  }
  let random = '';
  for (let i = 0; i < 16; i++) {
    random = (ALPHABET[Number(bits & 31n)] as string) + random;
    bits >>= 5n;
  }
  return time + random;
}
