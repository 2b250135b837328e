import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  planSlots,
  planSlotsFrom,
  type SlotPlanInput,
  type SlotWork,
  type SourceExtent,
} from '../slot-plan.js';

const K = 1024;
const SLOT = 4096 * K;

function ext(offset: number, length: number, allocated: boolean, changed: boolean): SourceExtent {
  return { offset, length, allocated, changed };
}

function plan(input: Partial<SlotPlanInput> & Pick<SlotPlanInput, 'extents'>) {
  return [...planSlots({ size: 3 * SLOT, slotSize: SLOT, mode: 'full', ...input })];
}

describe('planSlots, full backups', () => {
  it('stores allocated slots whole, sparse ones as their data, unallocated ones as zero', () => {
    const work = plan({
      extents: [
        ext(0, SLOT + 64 * K, true, true),
        ext(SLOT + 64 * K, 2 * SLOT - 64 * K, false, true),
      ],
    });
    assert.deepEqual(work, [
      { slot: 0, kind: 'data', reads: [{ offset: 0, length: SLOT }], length: SLOT },
      { slot: 1, kind: 'sparse', reads: [{ offset: 0, length: 64 * K }] },
      { slot: 2, kind: 'zero' },
    ]);
  });

  it('merges touching allocated extents and gives a short last slot its real length', () => {
    const size = SLOT + 100;
    const work = [
      ...planSlots({
        size,
        slotSize: SLOT,
        mode: 'full',
        extents: [ext(0, 10, true, true), ext(10, 20, true, true), ext(30, size - 30, false, true)],
      }),
    ];
    assert.equal(work.length, 2);
    assert.deepEqual(work[0], { slot: 0, kind: 'sparse', reads: [{ offset: 0, length: 30 }] });
    assert.deepEqual(work[1], { slot: 1, kind: 'zero' });
  });

  it('treats gaps between extents as unallocated', () => {
    const work = plan({ extents: [ext(2 * SLOT, 4 * K, true, true)] });
    assert.deepEqual(
      work.map((w) => w.kind),
      ['zero', 'zero', 'sparse'],
    );
  });

  it('stores a slot sparse up to half of it in data and 64 ranges, whole beyond either', () => {
    const half = plan({ extents: [ext(SLOT / 2, SLOT / 2, true, true)] })[0];
    assert.deepEqual(half, {
      slot: 0,
      kind: 'sparse',
      reads: [{ offset: SLOT / 2, length: SLOT / 2 }],
    });
    const more = plan({ extents: [ext(SLOT / 2 - 4 * K, SLOT / 2 + 4 * K, true, true)] })[0];
    assert.equal(more?.kind, 'data');
    const islands = (n: number) =>
      plan({ extents: [...Array(n).keys()].map((i) => ext(i * 16 * K, 4 * K, true, true)) })[0];
    assert.equal(islands(64)?.kind, 'sparse');
    assert.equal(islands(65)?.kind, 'data');
  });
});

describe('planSlots, incrementals', () => {
  const base = { mode: 'changes' as const, parentHasData: () => true };

  it('keeps unchanged slots, patches scattered 64 KiB writes, stores mostly changed slots whole', () => {
    const work = plan({
      ...base,
      extents: [
        ext(0, SLOT, true, false),
        ext(SLOT, 64 * K, true, true),
        ext(SLOT + 64 * K, 1024 * K, true, false),
        ext(SLOT + 1088 * K, 64 * K, true, true),
        ext(SLOT + 1152 * K, SLOT - 1152 * K, true, false),
        ext(2 * SLOT, 3 * K * 1024, true, true),
        ext(2 * SLOT + 3 * K * 1024, K * 1024, true, false),
      ],
    });
    assert.deepEqual(work[0], { slot: 0, kind: 'keep' });
    assert.deepEqual(work[1], {
      slot: 1,
      kind: 'patch',
      ranges: [
        { offset: 0, length: 64 * K, read: true },
        { offset: 1088 * K, length: 64 * K, read: true },
      ],
    });
    assert.deepEqual(work[2], {
      slot: 2,
      kind: 'data',
      reads: [{ offset: 0, length: SLOT }],
      length: SLOT,
    });
  });

  it('patches discarded ranges as zeros without reading them', () => {
    const work = plan({
      ...base,
      extents: [
        ext(0, 64 * K, false, true),
        ext(64 * K, SLOT - 64 * K, true, false),
        ext(SLOT, 2 * SLOT, false, false),
      ],
    });
    assert.deepEqual(work[0], {
      slot: 0,
      kind: 'patch',
      ranges: [{ offset: 0, length: 64 * K, read: false }],
    });
    assert.deepEqual(work[1], { slot: 1, kind: 'keep' });
  });

  it('stores a changed slot that is now entirely unallocated as zero', () => {
    const work = plan({ ...base, extents: [ext(0, 3 * SLOT, false, true)] });
    assert.deepEqual(
      work.map((w) => w.kind),
      ['zero', 'zero', 'zero'],
    );
  });

  it('stores a changed slot whole when the parent slot was zero (a patch needs a base)', () => {
    const work = plan({
      mode: 'changes',
      parentHasData: (slot) => slot !== 0,
      extents: [ext(0, 64 * K, true, true), ext(64 * K, 3 * SLOT - 64 * K, true, false)],
    });
    assert.deepEqual(work[0], {
      slot: 0,
      kind: 'data',
      reads: [{ offset: 0, length: SLOT }],
      length: SLOT,
    });
  });
});

/** A seeded generator (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random extents over `[0, size)` in 64 KiB steps, some missing (gaps). */
function randomExtents(rnd: () => number, size: number): SourceExtent[] {
  const out: SourceExtent[] = [];
  for (let at = 0; at < size;) {
    const length = Math.min(size - at, (1 + Math.floor(rnd() * 96)) * 64 * K);
    if (rnd() > 0.1) {
      out.push(ext(at, length, rnd() > 0.4, rnd() > 0.6));
    }
    at += length;
  }
  return out;
}

/** Each slot planned from exactly the extents' pieces inside it: what the planner must match. */
function slotByPieces(input: SlotPlanInput): SlotWork[] {
  const slots = Math.ceil(input.size / input.slotSize);
  return Array.from({ length: slots }, (_, slot) => {
    const start = slot * input.slotSize;
    const end = Math.min(input.size, start + input.slotSize);
    const inside = input.extents
      .filter((e) => e.offset < end && e.offset + e.length > start)
      .map((e) => {
        const from = Math.max(start, e.offset);
        return { ...e, offset: from - start, length: Math.min(end, e.offset + e.length) - from };
      });
    const has = input.parentHasData?.(slot) ?? false;
    const one = { ...input, size: end - start, extents: inside, parentHasData: () => has };
    return { ...([...planSlots(one)][0] as SlotWork), slot };
  });
}

describe('planSlots, extents streamed', () => {
  it('plans every slot as if from its own extents, whatever the extent boundaries', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = prng(seed);
      const size = (5 + Math.floor(rnd() * 20)) * SLOT - Math.floor(rnd() * 4) * 64 * K;
      const mode = seed % 2 === 0 ? ('full' as const) : ('changes' as const);
      const input: SlotPlanInput = {
        size,
        slotSize: SLOT,
        mode,
        extents: randomExtents(rnd, size),
        parentHasData: (s) => s % 3 !== 0,
      };
      const expected = slotByPieces(input);
      assert.deepEqual([...planSlots(input)], expected, `seed ${seed}`);
      async function* arriving(): AsyncGenerator<SourceExtent> {
        for (const e of input.extents) {
          await Promise.resolve();
          yield e;
        }
      }
      const streamed: SlotWork[] = [];
      for await (const w of planSlotsFrom(input, arriving())) {
        streamed.push(w);
      }
      assert.deepEqual(streamed, expected, `seed ${seed}, streamed`);
    }
  });
});
