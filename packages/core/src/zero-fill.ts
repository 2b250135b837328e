/** The block {@link zeroFill} copies from. */
const ZEROS = new Uint8Array(64 * 1024);

/**
 * Sets bytes `[start, end)` of `buf` to zero. On memory shared between threads (the chunk workers'
 * arena, where a backup's slots are read into) V8's `fill` stores byte by byte with atomic stores:
 * zeroing 2 MiB took ~1.9 ms that way on the lab machine against ~0.43 ms copying a block of zeros,
 * and a full of a disk whose slots hold scattered writes among holes spent ~9.5 % of its samples
 * there. Unshared memory keeps the plain `fill`, which is fastest there.
 */
export function zeroFill(buf: Uint8Array, start = 0, end = buf.length): void {
  if (!(buf.buffer instanceof SharedArrayBuffer)) {
    buf.fill(0, start, end);
    return;
  }
  for (let at = start; at < end; at += ZEROS.length) {
    buf.set(end - at >= ZEROS.length ? ZEROS : ZEROS.subarray(0, end - at), at);
  }
}
