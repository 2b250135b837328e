#!/usr/bin/env node
// Restore benchmark: virtvault vs virtnbdrestore (Debian's virtnbdbackup package) vs qemu-img,
// side by side in one run, on the bench VM's 4 GiB disk holding 2 GiB of scattered random data
// (the base image of bench/backup).
//   One full backup by each tool of the same running VM first (virtnbdbackup `-l copy`: no
//   checkpoint, so the two tools never meet). Then, median of --runs, each into a fresh folder:
//   qcow2: `virtvault restore --format qcow2` vs `virtnbdrestore` (which writes qcow2 too) vs
//          `qemu-img convert -O qcow2` of the VM's own image (copying the disk with no backup
//          format in between: the floor)
//   raw:   `virtvault restore --format raw` vs `qemu-img convert -O raw` of the VM's image
// Wall times of whole commands as a user runs them. A restore counts as done when it is durable:
// virtvault fsyncs what it wrote; the peers' times include a `sync -f` of their output.
// The first run's outputs are compared with the VM's image (`qemu-img compare`): a fast wrong
// restore fails the bench.
//   chain: then 3 rounds of bench/backup's 5 % change, each followed by our incremental, and the
//          last incremental (its slots spread over the full, three sets of patches and packs)
//          restored raw vs `qemu-img convert -O raw` of the VM's image at that moment, median of
//          --runs, first output compared; a line of its own before the last (virtnbdbackup's
//          `-l copy` has no incrementals to restore).
// Last line:
//   restore: qcow2_vs_virtnbdrestore=<r> qcow2_vs_qemu_img=<r> raw_vs_qemu_img=<r> rss=<MiB>
// (ratios of wall time, ours over theirs; rss = peak RSS of the virtvault process).
// Usage: bench/restore [--runs 5]   (run it through the bash wrapper: it installs and builds first)
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Connection } from '@virtvault/libvirt';

import {
  applyChanges,
  changeSet,
  CLI,
  freshVm,
  lab,
  makeBase,
  median,
  OUT,
  ourBackupArgs,
  ratio,
  sh,
  timed,
} from './bench-lab.mjs';

const { values: opt } = parseArgs({
  options: { runs: { type: 'string', default: '5' } },
});
const RUNS = Number(opt.runs);
const REPO = `${OUT}/repo`;
const VNB = `${OUT}/vnb`;

/** Full backups of bvv by both tools. */
async function backups(uri) {
  await timed(process.execPath, ourBackupArgs(REPO, 'full', uri));
  await timed('bash', [
    '-c',
    `virtnbdbackup -d bvv -l copy -o ${VNB} -U '${uri}' -S ${OUT}/vnb-scratch -n`,
  ]);
}

function ourRestore(dir, format) {
  const args = ['restore', '--repo', REPO, '--domain', 'bvv', '--output', dir, '--format', format];
  return timed(process.execPath, [CLI, ...args, '--json'], { rss: true });
}

/** Fails the bench unless `file` holds the same disk as the VM's image. */
function sameAsSource(file, format, image) {
  sh('qemu-img', ['compare', '-U', '-f', format, '-F', 'qcow2', file, image]);
}

async function oneRun(i, uri, image, t) {
  const dir = (name) => `${OUT}/${name}-${i}`;
  const ours = await ourRestore(dir('ours-qcow2'), 'qcow2');
  t.oursQcow2.push(ours.secs);
  t.rss = Math.max(t.rss, ours.rss);
  const vnb = `virtnbdrestore -i ${VNB} -o ${dir('vnb')} -U '${uri}' -n && sync -f ${dir('vnb')}`;
  t.vnb.push((await timed('bash', ['-c', vnb])).secs);
  const q = `${dir('qemu')}.qcow2`;
  const convertQ = `qemu-img convert -U -O qcow2 ${image} ${q} && sync -f ${q}`;
  t.qemuQcow2.push((await timed('bash', ['-c', convertQ])).secs);
  const raw = await ourRestore(dir('ours-raw'), 'raw');
  t.oursRaw.push(raw.secs);
  t.rss = Math.max(t.rss, raw.rss);
  const r = `${dir('qemu')}.raw`;
  const convertR = `qemu-img convert -U -O raw ${image} ${r} && sync -f ${r}`;
  t.qemuRaw.push((await timed('bash', ['-c', convertR])).secs);
  if (i === 0) {
    sameAsSource(`${dir('ours-qcow2')}/vda.qcow2`, 'qcow2', image);
    sameAsSource(`${dir('ours-raw')}/vda.raw`, 'raw', image);
    const [vnbFile] = readdirSync(dir('vnb')).filter((f) => !f.endsWith('.xml'));
    sameAsSource(`${dir('vnb')}/${vnbFile}`, 'qcow2', image);
  }
  for (const name of ['ours-qcow2', 'vnb', 'ours-raw']) {
    rmSync(dir(name), { recursive: true, force: true });
  }
  rmSync(q, { force: true });
  rmSync(r, { force: true });
  console.log(
    `run ${i + 1}: qcow2 ours=${ours.secs.toFixed(2)}s virtnbdrestore=${t.vnb.at(-1).toFixed(2)}s ` +
      `qemu-img=${t.qemuQcow2.at(-1).toFixed(2)}s; raw ours=${raw.secs.toFixed(2)}s ` +
      `qemu-img=${t.qemuRaw.at(-1).toFixed(2)}s; rss=${Math.max(ours.rss, raw.rss).toFixed(0)}MiB`,
  );
}

/** Three incrementals on top of the full, then the last one restored raw against qemu-img. */
async function chain(uri, image) {
  const conn = await Connection.connect(uri);
  try {
    for (let k = 0; k < 3; k++) {
      await applyChanges(conn, changeSet(2000 + k), ['bvv']);
      await timed(process.execPath, ourBackupArgs(REPO, 'inc', uri));
    }
  } finally {
    await conn.close();
  }
  const t = { ours: [], qemu: [], rss: 0 };
  for (let i = 0; i < RUNS; i++) {
    const dir = `${OUT}/chain-ours-${i}`;
    const ours = await ourRestore(dir, 'raw');
    t.ours.push(ours.secs);
    t.rss = Math.max(t.rss, ours.rss);
    const r = `${OUT}/chain-qemu-${i}.raw`;
    t.qemu.push(
      (await timed('bash', ['-c', `qemu-img convert -U -O raw ${image} ${r} && sync -f ${r}`]))
        .secs,
    );
    if (i === 0) {
      sameAsSource(`${dir}/vda.raw`, 'raw', image);
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(r, { force: true });
    console.log(
      `chain run ${i + 1}: raw ours=${ours.secs.toFixed(2)}s qemu-img=${t.qemu.at(-1).toFixed(2)}s ` +
        `rss=${ours.rss.toFixed(0)}MiB`,
    );
  }
  return t;
}

async function main() {
  lab('up', 'a');
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(`${OUT}/scratch`, { recursive: true });
  mkdirSync(`${OUT}/vnb-scratch`, { recursive: true });
  makeBase();
  const image = freshVm('bvv');
  const uri = lab('uri', 'a');
  const t = { oursQcow2: [], vnb: [], qemuQcow2: [], oursRaw: [], qemuRaw: [], rss: 0 };
  let c = { ours: [], qemu: [], rss: 0 };
  try {
    await backups(uri);
    for (let i = 0; i < RUNS; i++) {
      await oneRun(i, uri, image, t);
    }
    c = await chain(uri, image);
    t.rss = Math.max(t.rss, c.rss);
  } finally {
    lab('rmvm', 'bvv');
    // its host only: the services (Postgres, Redis) are the test lab's, on the same ports
    lab('down', 'a');
    rmSync(OUT, { recursive: true, force: true });
  }
  const s = (xs) => `${median(xs).toFixed(2)}s`;
  console.log(
    `medians: qcow2 ours=${s(t.oursQcow2)} virtnbdrestore=${s(t.vnb)} qemu-img=${s(t.qemuQcow2)}; ` +
      `raw ours=${s(t.oursRaw)} qemu-img=${s(t.qemuRaw)}`,
  );
  console.log(
    `incremental chain (full + 3 incrementals, the last restored): raw ours=${s(c.ours)} ` +
      `qemu-img=${s(c.qemu)} ratio=${ratio(c.ours, c.qemu)} rss=${c.rss.toFixed(0)}`,
  );
  console.log(
    `restore: qcow2_vs_virtnbdrestore=${ratio(t.oursQcow2, t.vnb)} ` +
      `qcow2_vs_qemu_img=${ratio(t.oursQcow2, t.qemuQcow2)} ` +
      `raw_vs_qemu_img=${ratio(t.oursRaw, t.qemuRaw)} rss=${t.rss.toFixed(0)}`,
  );
}

await main();
