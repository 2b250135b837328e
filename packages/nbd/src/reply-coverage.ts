/**
 * What the chunks of each structured reply in flight have answered so far: the byte ranges of its
 * data, hole and error chunks, and the metadata contexts of its block status chunks. The spec
 * (doc/proto.md, "Structured reply chunk message types"): content chunks "MUST NOT overlap with the
 * bounds of any earlier content chunk or error chunk in the same reply", and a block status reply
 * holds "exactly one chunk of type NBD_REPLY_TYPE_BLOCK_STATUS per selected context id". Counting
 * bytes alone let overlapping chunks add up to the request's length with part of the buffer never
 * written, and a repeated context read as the range after the first.
 */
import { NbdError } from './errors.js';

/** Ranges answered per cookie, as sorted disjoint `[start, end)` pairs (merged when adjacent). */
export class ReplyCoverage {
  readonly #spans = new Map<number, [number, number][]>();
  readonly #contexts = new Map<number, Set<number>>();

  /** Records that a chunk of `cookie`'s reply answered `[offset, offset + length)`. */
  claim(cookie: number, offset: number, length: number): void {
    const end = offset + length;
    const spans = this.#spans.get(cookie) ?? [];
    this.#spans.set(cookie, spans);
    let i = 0;
    while (i < spans.length && (spans[i]?.[1] ?? 0) <= offset) {
      i++;
    }
    const next = spans[i];
    if (next !== undefined && next[0] < end) {
      throw new NbdError(
        'NBD_ERR_REPLY_RANGE',
        `chunk [${offset}, +${length}) overlaps [${next[0]}, ${next[1]}) of the same reply`,
      );
    }
    const prev = spans[i - 1];
    if (prev !== undefined && prev[1] === offset) {
      prev[1] = next !== undefined && next[0] === end ? (spans.splice(i, 1)[0]?.[1] ?? end) : end;
    } else if (next !== undefined && next[0] === end) {
      next[0] = offset;
    } else {
      spans.splice(i, 0, [offset, end]);
    }
  }

  /** Records a block status chunk of `cookie`'s reply for `contextId`; a second one is refused. */
  context(cookie: number, contextId: number): void {
    const seen = this.#contexts.get(cookie) ?? new Set<number>();
    this.#contexts.set(cookie, seen);
    if (seen.has(contextId)) {
      throw new NbdError(
        'NBD_ERR_REPLY_CONTEXT',
        `a second block status chunk for context ${contextId} in one reply`,
      );
    }
    seen.add(contextId);
  }

  /** Forgets `cookie`'s reply (it is done). */
  end(cookie: number): void {
    this.#spans.delete(cookie);
    this.#contexts.delete(cookie);
  }
}
