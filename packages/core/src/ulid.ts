/**
 * ULIDs: 48 bits of milliseconds and 80 random bits in Crockford base32, 26 characters that sort
 * by time. Run ids, snapshot ids and checkpoint names (`vv-<ulid>`). Pure: the caller passes the
 * time and the random bytes.
 */
import { CoreError } from './errors.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The ULID of `now` (epoch ms) and ten random bytes. */
export function formatUlid(now: number, random: Uint8Array): string {
  if (random.length !== 10 || !Number.isSafeInteger(now) || now < 0) {
    throw new CoreError('BAD_ULID_INPUT', 'a ULID needs a time in ms and 10 random bytes');
  }
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = (ALPHABET[t % 32] as string) + time;
    t = Math.floor(t / 32);
  }
  let bits = 0n;
  for (const b of random) {
    bits = (bits << 8n) | BigInt(b);
  }
  let rnd = '';
  for (let i = 0; i < 16; i++) {
    rnd = (ALPHABET[Number(bits & 31n)] as string) + rnd;
    bits >>= 5n;
  }
  return time + rnd;
}
