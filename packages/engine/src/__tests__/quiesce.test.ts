import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { type Domain, LibvirtError } from '@virtvault/libvirt';

import { decideQuiesce, withQuiesce } from '../quiesce.js';

const VIR_FROM_QEMU = 10;
/** libvirt's error as the addon reports it (numbers from virerror.h). */
const lv = (number: number, message: string) => new LibvirtError(number, VIR_FROM_QEMU, message);

describe('decideQuiesce', () => {
  it('a freeze of at least one filesystem is filesystem-consistent and owes a thaw', () => {
    assert.deepEqual(decideQuiesce({ kind: 'frozen', filesystems: 2 }), {
      consistency: 'filesystem',
      note: null,
      thaw: true,
    });
  });

  it('an agent that froze nothing gives crash consistency, still thawed', () => {
    const d = decideQuiesce({ kind: 'frozen', filesystems: 0 });
    assert.equal(d.consistency, 'crash');
    assert.equal(d.thaw, true);
    assert.match(d.note ?? '', /froze no filesystem/);
  });

  it('no agent channel: crash-consistent with the reason, nothing to thaw', () => {
    const error = lv(74, 'argument unsupported: QEMU guest agent is not configured');
    const d = decideQuiesce({ kind: 'failed', error });
    assert.equal(d.consistency, 'crash');
    assert.equal(d.thaw, false);
    assert.match(d.note ?? '', /VIR_ERR_ARGUMENT_UNSUPPORTED: .*not configured/);
  });

  it('an agent not connected or not answering: crash-consistent, nothing to thaw', () => {
    for (const error of [
      lv(86, 'Guest agent is not responding: QEMU guest agent is not connected'),
      lv(97, 'guest agent replied with wrong id'),
    ]) {
      const d = decideQuiesce({ kind: 'failed', error });
      assert.deepEqual([d.consistency, d.thaw], ['crash', false]);
      assert.match(d.note ?? '', /no guest agent answered/);
    }
  });

  it('an unsupported argument that is not about the agent is a failed freeze, thawed', () => {
    const d = decideQuiesce({ kind: 'failed', error: lv(74, 'argument unsupported: mountpoints') });
    assert.deepEqual([d.consistency, d.thaw], ['crash', true]);
    assert.match(d.note ?? '', /the freeze failed/);
  });

  it('an agent error (fsfreeze refused in the guest) thaws to be sure', () => {
    const error = lv(1, 'internal error: unable to execute QEMU agent command');
    const d = decideQuiesce({ kind: 'failed', error });
    assert.deepEqual([d.consistency, d.thaw], ['crash', true]);
  });

  it('a freeze that did not answer in time: crash-consistent, the late freeze thaws itself', () => {
    const d = decideQuiesce({ kind: 'timed-out', afterMs: 30_000 });
    assert.deepEqual([d.consistency, d.thaw], ['crash', false]);
    assert.match(d.note ?? '', /within 30 s/);
  });
});

describe('withQuiesce', () => {
  // the timeout: a withQuiesce deaf to the deadline would wait for the thaw forever
  it(
    'a thaw the agent never answers ends the wait at the deadline, and the backup goes on saying so',
    { timeout: 10_000 },
    async () => {
      let thawCalls = 0;
      // what withQuiesce calls of a domain: a freeze that works, a thaw that never returns
      const domain = {
        fsFreeze: () => Promise.resolve(2),
        fsThaw: () => {
          thawCalls += 1;
          return new Promise<number>(() => undefined);
        },
      } as unknown as Domain;
      const started = Date.now();
      const r = await withQuiesce(domain, true, () => Promise.resolve('job begun'), {
        timeoutMs: 50,
      });
      assert.equal(r.value, 'job begun');
      assert.equal(r.consistency, 'filesystem');
      assert.match(r.notes.join(), /did not answer the thaw within 50 ms/);
      assert.equal(thawCalls, 1, 'a pending thaw is not asked again');
      assert.ok(Date.now() - started < 5_000);
    },
  );
});
