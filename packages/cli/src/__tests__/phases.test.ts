import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { describePhases, PhaseClock } from '../phases.js';

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; at: (t: number) => void } {
  let t = 0;
  return { now: () => t, at: (v) => (t = v) };
}

describe('backup phases', () => {
  it('turns the moments of one attempt into durations that add up to the run', () => {
    const c = manualClock();
    const clock = new PhaseClock(c.now);
    for (const [t, p] of [
      [900, 'started'],
      [1100, 'copying'],
      [2800, 'committing'],
      [3100, 'committed'],
    ] as const) {
      c.at(t);
      clock.mark(p);
    }
    const phases = clock.phases(100, 3150);
    assert.ok(phases !== null);
    assert.deepEqual(phases, {
      prepareMs: 800,
      beginMs: 200,
      copyMs: 1700,
      commitMs: 300,
      finishMs: 50,
    });
    const { prepareMs, beginMs, copyMs, commitMs, finishMs } = phases;
    const sum = prepareMs + beginMs + copyMs + commitMs + finishMs;
    assert.equal(sum, 3150 - 100);
    assert.equal(
      describePhases(phases),
      'prepare 0.8 s, job start 0.2 s, copy 1.7 s, commit 0.3 s, finish 0.1 s',
    );
  });

  it('counts the last attempt: a retried incremental first attempt is preparation', () => {
    const c = manualClock();
    const clock = new PhaseClock(c.now);
    const marks = [
      [10, 'started'],
      [20, 'copying'], // the incremental fails while copying
      [50, 'started'],
      [60, 'copying'],
      [90, 'committing'],
      [95, 'committed'],
    ] as const;
    for (const [t, p] of marks) {
      c.at(t);
      clock.mark(p);
    }
    assert.deepEqual(clock.phases(0, 100), {
      prepareMs: 50,
      beginMs: 10,
      copyMs: 30,
      commitMs: 5,
      finishMs: 5,
    });
  });

  it('gives nothing for a run that never committed', () => {
    const c = manualClock();
    const clock = new PhaseClock(c.now);
    assert.equal(clock.phases(0, 10), null);
    c.at(5);
    clock.mark('started');
    clock.mark('copying');
    assert.equal(clock.phases(0, 10), null);
  });

  it('gives nothing when the wall clock was set back during the run', () => {
    const c = manualClock();
    const clock = new PhaseClock(c.now);
    for (const p of ['started', 'copying', 'committing', 'committed'] as const) {
      c.at(c.now() + 10);
      clock.mark(p);
    }
    assert.ok(clock.phases(0, 50) !== null);
    assert.equal(clock.phases(0, 30), null, 'ended before the commit');
    assert.equal(clock.phases(20, 50), null, 'started after the first phase');
  });
});
