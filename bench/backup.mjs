#!/usr/bin/env node
// Backup benchmark: virtvault vs nbdcopy vs virtnbdbackup (Debian's package), side by side in one
// run, on a 4 GiB VM disk holding 2 GiB of scattered random data (1024 random 2 MiB slots).
//   full: `virtvault backup --level full` into a fresh repository, vs backup-begin + `nbdcopy` of the
//         same pull-backup export into a file + domjobabort, vs `virtnbdbackup -l full`
//   inc:  after 5 % of the disk changed (half as 8 MiB runs, half as 64 KiB writes scattered over
//         the whole disk, random data, the same offsets on both VMs): `virtvault backup --level inc`
//         vs `virtnbdbackup -l inc`
// Wall times of whole commands as a user runs them (process start included), median of --runs,
// in the environment a host gives them (bench-lab.mjs strips NODE_EXTRA_CA_CERTS and NODE_OPTIONS).
// A backup counts as done when it is durable: virtvault makes its chunks durable with a syncfs
// before it commits, and fsyncs its indexes and manifest; the peers write into the page cache, so
// their times include a `sync -f` of their output, and dirty pages are flushed (untimed) before
// every measurement so no tool pays for another's writes.
// Every tool's output stays until the end (~25 GiB for 5 runs): this lab's root filesystem is ext4
// without a journal, where the kernel avoids reusing inodes freed in the last 60-300 s, so a tool
// creating files soon after the bench deleted thousands (an earlier run's repository) would pay
// for the bench's own cleanup.
// Two identical VMs in a lab of its own: bvv (virtvault, nbdcopy) and bvnb (virtnbdbackup), so the
// tools' checkpoints never meet. Before the last line, our median time per phase (`backup --json`
// "phases": prepare, job start, copy, commit, finish; node's own start and exit are the rest of the
// wall time). Last line:
//   backup: full_vs_nbdcopy=<r> full_vs_virtnbdbackup=<r> inc_vs_virtnbdbackup=<r> rss=<MiB>
// (ratios of wall time, ours over theirs; rss = peak RSS of the virtvault process). Before it, the
// incremental's floor (read-floor.mjs): libvirt's job start plus QEMU serving the same changes to a
// bare reader, as a fraction of virtnbdbackup's time, the lowest inc ratio any tool could reach.
// Usage: bench/backup [--runs 5]   (run it through the bash wrapper: it installs and builds first)
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Connection } from '@virtvault/libvirt';

import {
  applyChanges,
  changeSet,
  freshVm,
  lab,
  makeBase,
  median,
  OUT,
  ourBackupArgs,
  ratio,
  STRIPPED_ENV,
  timed,
} from './bench-lab.mjs';
import { parentCheckpoint, readFloor } from './read-floor.mjs';

const { values: opt } = parseArgs({
  options: { runs: { type: 'string', default: '5' } },
});
const RUNS = Number(opt.runs);

function ourArgs(repo, level) {
  return ourBackupArgs(repo, level, lab('uri', 'a'));
}

/** virtnbdbackup, then a sync of what it wrote, as one timed `bash -c` command. */
function vnbArgs(dir, level) {
  const uri = lab('uri', 'a');
  const args = `-d bvnb -l ${level} -o ${dir} -U '${uri}' -S ${OUT}/vnb-scratch -n`;
  return ['-c', `virtnbdbackup ${args} && sync -f ${dir}`];
}

async function nbdcopyFull(i) {
  const uri = lab('uri', 'a');
  const sock = `${OUT}/nc.sock`;
  const xml = `${OUT}/nc.xml`;
  const out = `${OUT}/nc-${i}.raw`;
  execFileSync('bash', ['-c', `cat > ${xml}`], {
    input:
      `<domainbackup mode='pull'><server transport='unix' socket='${sock}'/><disks>` +
      `<disk name='vda' backup='yes' type='file'><scratch file='${OUT}/nc-scratch.qcow2'/></disk>` +
      '</disks></domainbackup>',
  });
  const script =
    `virsh -q -c '${uri}' backup-begin bvv ${xml} >/dev/null && ` +
    `nbdcopy 'nbd+unix:///vda?socket=${sock}' ${out} && ` +
    `virsh -q -c '${uri}' domjobabort bvv && sync -f ${out}`;
  const r = await timed('bash', ['-c', script]);
  rmSync(out, { force: true });
  return r;
}

/** Steal of one timed run, as a whole percentage. */
const pct = (r) => `${Math.round(r.steal * 100)}%`;

async function main() {
  const stripped = STRIPPED_ENV.filter((k) => process.env[k] !== undefined);
  if (stripped.length > 0) {
    console.log(`tools run without ${stripped.join(', ')} (see STRIPPED_ENV in bench-lab.mjs)`);
  }
  lab('up', 'a');
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(`${OUT}/scratch`, { recursive: true });
  mkdirSync(`${OUT}/vnb-scratch`, { recursive: true });
  makeBase();
  freshVm('bvv');
  freshVm('bvnb');
  const conn = await Connection.connect(lab('uri', 'a'));
  const full = { ours: [], nbdcopy: [], vnb: [] };
  const inc = { ours: [], vnb: [] };
  // per incremental: libvirt's job start and QEMU serving the same changes to a bare reader
  const floor = { start: [], read: [] };
  // where our time went (backup --json "phases"), per level
  const phases = { full: [], inc: [] };
  let rss = 0;
  // the host's steal during each measured run (see `timed`)
  const steal = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const o = await timed(process.execPath, ourArgs(`${OUT}/repo-full-${i}`, 'full'), {
        rss: true,
      });
      full.ours.push(o.secs);
      phases.full.push(JSON.parse(o.out).phases);
      rss = Math.max(rss, o.rss);
      const nc = await nbdcopyFull(i);
      full.nbdcopy.push(nc.secs);
      const vf = await timed('bash', vnbArgs(`${OUT}/vnb-full-${i}`, 'full'));
      full.vnb.push(vf.secs);
      steal.push(o.steal, nc.steal, vf.steal);
      console.log(
        `full ${i + 1}: ours=${o.secs.toFixed(2)}s nbdcopy=${nc.secs.toFixed(2)}s ` +
          `virtnbdbackup=${vf.secs.toFixed(2)}s rss=${o.rss.toFixed(0)}MiB ` +
          `steal=${pct(o)}/${pct(nc)}/${pct(vf)}`,
      );
    }
    // the chains the incrementals build on
    await timed(process.execPath, ourArgs(`${OUT}/repo`, 'full'));
    await timed('bash', vnbArgs(`${OUT}/vnb`, 'full'));
    for (let i = 0; i < RUNS; i++) {
      await applyChanges(conn, changeSet(1000 + i), ['bvv', 'bvnb']);
      const o = await timed(process.execPath, ourArgs(`${OUT}/repo`, 'inc'), { rss: true });
      inc.ours.push(o.secs);
      phases.inc.push(JSON.parse(o.out).phases);
      rss = Math.max(rss, o.rss);
      const vi = await timed('bash', vnbArgs(`${OUT}/vnb`, 'inc'));
      inc.vnb.push(vi.secs);
      steal.push(o.steal, vi.steal);
      // after both tools, untimed by them: the changes since our previous checkpoint, read again
      const f = await readFloor(lab('uri', 'a'), 'bvv', parentCheckpoint(lab('uri', 'a'), 'bvv'));
      floor.start.push(f.start);
      floor.read.push(f.read);
      console.log(
        `inc ${i + 1}: ours=${o.secs.toFixed(2)}s virtnbdbackup=${vi.secs.toFixed(2)}s ` +
          `rss=${o.rss.toFixed(0)}MiB steal=${pct(o)}/${pct(vi)} floor: job start=` +
          `${f.start.toFixed(2)}s bare read=${f.read.toFixed(2)}s (${f.mib.toFixed(0)} MiB)`,
      );
    }
  } finally {
    await conn.close();
    lab('rmvm', 'bvv');
    lab('rmvm', 'bvnb');
    // its host only: the services (Postgres, Redis) are the test lab's, on the same ports
    lab('down', 'a');
    rmSync(OUT, { recursive: true, force: true });
  }

  for (const level of ['full', 'inc']) {
    const names = ['prepareMs', 'beginMs', 'copyMs', 'commitMs', 'finishMs'];
    const med = names.map((n) => `${n.slice(0, -2)}=${median(phases[level].map((p) => p[n]))}`);
    console.log(`ours ${level}, median ms per phase: ${med.join(' ')}`);
  }
  console.log(
    `medians: full ours=${median(full.ours).toFixed(2)}s nbdcopy=${median(full.nbdcopy).toFixed(2)}s ` +
      `virtnbdbackup=${median(full.vnb).toFixed(2)}s; inc ours=${median(inc.ours).toFixed(2)}s ` +
      `virtnbdbackup=${median(inc.vnb).toFixed(2)}s`,
  );
  const floorSecs = median(floor.start) + median(floor.read);
  console.log(
    `inc floor (virsh backup-begin + QEMU serving the changes to a bare reader, medians): ` +
      `${floorSecs.toFixed(2)}s = ${(floorSecs / median(inc.vnb)).toFixed(2)} of virtnbdbackup's inc ` +
      '(no tool reading through the export can reach a lower inc_vs_virtnbdbackup)',
  );
  console.log(
    `host: CPU stolen by the machine's host during the measured runs: median ` +
      `${Math.round(median(steal) * 100)}%, max ${Math.round(Math.max(...steal) * 100)}% ` +
      '(figures of runs with different steal are not comparable)',
  );
  console.log(
    `backup: full_vs_nbdcopy=${ratio(full.ours, full.nbdcopy)} ` +
      `full_vs_virtnbdbackup=${ratio(full.ours, full.vnb)} inc_vs_virtnbdbackup=${ratio(inc.ours, inc.vnb)} ` +
      `rss=${rss.toFixed(0)}`,
  );
}

await main();
