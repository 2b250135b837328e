import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { LibvirtError, type Domain } from '@virtvault/libvirt';

import { endJob } from '../pull-backup.js';

const VIR_FROM_QEMU = 10;
/** virerror.h's VIR_ERR_NO_DOMAIN_BACKUP: what libvirt answers once the job is gone. */
const VIR_ERR_NO_DOMAIN_BACKUP = 104;

/**
 * A fake domain whose backup job is still listed for `listedFor` more asks after the abort (the
 * real thing, a job that will not end, cannot be made to happen in the lab).
 */
function fakeDomain(listedFor: number): { domain: Domain; aborts: () => number } {
  let aborts = 0;
  let asks = 0;
  const domain = {
    name: 'fake',
    abortJob: () => {
      aborts++;
      return Promise.resolve();
    },
    backupJob: () => {
      asks++;
      return asks <= listedFor
        ? Promise.resolve({ disks: [] })
        : Promise.reject(
            new LibvirtError(
              VIR_ERR_NO_DOMAIN_BACKUP,
              VIR_FROM_QEMU,
              'no domain backup job present',
            ),
          );
    },
  } as unknown as Domain;
  return { domain, aborts: () => aborts };
}

describe('endJob', () => {
  it('returns once libvirt no longer lists the job', async () => {
    const f = fakeDomain(3);
    await endJob(f.domain, 5_000);
    assert.equal(f.aborts(), 1);
  });

  it('a job still listed at the deadline is BACKUP_JOB_NOT_ENDED, not a silent return', async () => {
    const f = fakeDomain(Number.POSITIVE_INFINITY);
    await assert.rejects(endJob(f.domain, 60), {
      code: 'BACKUP_JOB_NOT_ENDED',
      message: /backup job of fake was still listed 0.06 s after its abort/,
    });
  });
});
