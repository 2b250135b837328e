// Shared by the bench scripts: the bench lab (its own LAB_ROOT), the 4 GiB base image with 2 GiB of
// scattered random data, fresh VMs from it, timed commands, and the 5 % change set written into
// running VMs between backups.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const ROOT = new URL('..', import.meta.url).pathname;
export const LAB_ROOT = '/var/tmp/vv-bench-lab';
export const OUT = '/var/tmp/vv-bench-out';
const BASE = '/var/tmp/vv-bench-base-4g.qcow2';
/** The `virtvault` binary as users run it (the bundle `npm run build` makes). */
export const CLI = `${ROOT}packages/cli/dist/bundle/virtvault.js`;
/**
 * Variables that change how a process starts, which a KVM host has no reason to set, so the tools
 * are measured without them: NODE_EXTRA_CA_CERTS makes every node process read and parse that CA
 * bundle before it runs any code (sandboxes behind a TLS-inspecting proxy set it; measured on the
 * lab machine with Debian's bundle: `node -e 0` 0.12-0.17 s with it, 0.04-0.05 s without), and
 * NODE_OPTIONS would change our process alone. The peers (nbdcopy, virtnbdbackup in Python) read
 * neither.
 */
export const STRIPPED_ENV = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];
/** The environment of every measured command: the caller's with LAB_ROOT, minus STRIPPED_ENV. */
export const env = Object.fromEntries(
  Object.entries({ ...process.env, LAB_ROOT }).filter(([k]) => !STRIPPED_ENV.includes(k)),
);

/** `virtvault backup` of the bench VM bvv into `repo` at `level`, through libvirt at `uri`, --json. */
export function ourBackupArgs(repo, level, uri) {
  const where = ['--connect', uri, '--host', 'a', '--state', `${OUT}/state`];
  return [
    CLI,
    'backup',
    '--domain',
    'bvv',
    '--repo',
    repo,
    '--level',
    level,
    ...where,
    '--scratch',
    `${OUT}/scratch`,
    '--json',
  ];
}

/** Runs a command, returns its stdout. */
export const sh = (cmd, args) =>
  execFileSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
/** Runs `test/lab/lab` with the bench's LAB_ROOT. */
export const lab = (...args) => sh('bash', [`${ROOT}test/lab/lab`, ...args]).trim();
/** The median (upper middle) of numbers. */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Ratio of medians, two decimals. */
export const ratio = (a, b) => (median(a) / median(b)).toFixed(2);

/** Seeded PRNG (mulberry32), so both VMs and every run get the same layout. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The base image (made once, kept): 4 GiB, 1024 random 2 MiB slots of random data. */
export function makeBase() {
  if (existsSync(BASE)) {
    return;
  }
  const raw = `${BASE}.raw`;
  const fd = openSync(raw, 'w');
  try {
    const rnd = prng(266);
    const slots = [...Array(2048).keys()];
    for (let i = slots.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [slots[i], slots[j]] = [slots[j], slots[i]];
    }
    for (const s of slots.slice(0, 1024)) {
      writeSync(fd, randomBytes(2 * MiB), 0, 2 * MiB, s * 2 * MiB);
    }
    writeSync(fd, Buffer.alloc(1), 0, 1, 4 * GiB - 1);
  } finally {
    closeSync(fd);
  }
  sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, BASE]);
  rmSync(raw);
}

/** A fresh VM `name` on lab host a with a copy of the base image as vda; returns the image. */
export function freshVm(name) {
  lab('rmvm', name);
  const img = lab('image', name, 'vda');
  rmSync(img, { force: true });
  sh('cp', ['--sparse=always', BASE, img]);
  lab('vm', name, '4G');
  return img;
}

/** The machine's CPU time so far, in clock ticks: all of it, and the part stolen by its host. */
function cpuTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const n = f.map(Number);
  // user nice system idle iowait irq softirq steal (guest time is counted in user already)
  const all = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return { all, steal: n[7] ?? 0 };
}

/**
 * Runs a command after a `sync` (so no tool pays for another's writes), returns wall seconds, its
 * stdout, the share of the machine's CPU time its host stole meanwhile (`steal`, 0..1: on a
 * virtual machine whose neighbours are busy, every figure of that run is slower, and ratios of
 * runs with different steal compare different machines) and (when asked) the peak RSS in MiB
 * seen in /proc.
 */
export function timed(cmd, args, { rss = false } = {}) {
  execFileSync('sync');
  return new Promise((resolve, reject) => {
    const c0 = cpuTicks();
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let peak = 0;
    let err = '';
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const poll = rss
      ? setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            peak = Math.max(peak, Number(m?.[1] ?? 0) / 1024);
          } catch {
            // exited between polls
          }
        }, 20)
      : null;
    child.on('exit', (code) => {
      if (poll) {
        clearInterval(poll);
      }
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const c1 = cpuTicks();
      const steal = c1.all > c0.all ? (c1.steal - c0.steal) / (c1.all - c0.all) : 0;
      if (code !== 0) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`));
      } else {
        resolve({ secs, rss: peak, out, steal });
      }
    });
  });
}

/** Top block node of the domain's vda (changes while a backup job runs). */
async function topNode(domain) {
  const blocks = await domain.qmp('query-block');
  const b = blocks.find((x) => (x.qdev ?? '').startsWith('/machine/peripheral/ua-vda/'));
  return b.inserted['node-name'];
}

/** 5 % of the disk: 13 runs of 8 MiB and 1600 scattered 64 KiB writes, random data. */
export function changeSet(seed) {
  const rnd = prng(seed);
  const writes = [];
  for (let i = 0; i < 13; i++) {
    writes.push({ off: Math.floor(rnd() * 511) * 8 * MiB, len: 8 * MiB });
  }
  for (let i = 0; i < 1600; i++) {
    writes.push({ off: Math.floor(rnd() * 65535) * 64 * 1024, len: 64 * 1024 });
  }
  return writes.map((w, k) => ({ ...w, file: `${OUT}/data/${seed}-${k}.bin` }));
}

/** Writes `writes` into the running `domains`' vda through QEMU, the same on each. */
export async function applyChanges(conn, writes, domains) {
  mkdirSync(`${OUT}/data`, { recursive: true });
  // written here, not by a `head -c` child each: the 1,613 children of one change set took 10-16
  // minutes in one bench run on the lab machine (~0.6 s each then; writing them here takes ~2 s)
  for (const w of writes) {
    if (!existsSync(w.file)) {
      writeFileSync(w.file, randomBytes(w.len));
    }
  }
  for (const name of domains) {
    const dom = await conn.lookupByName(name);
    const node = await topNode(dom);
    for (const w of writes) {
      const out = await dom.monitorCommand(
        `qemu-io ${node} "write -q -s ${w.file} ${w.off} ${w.len}"`,
        { hmp: true },
      );
      if (out.trim() !== '') {
        throw new Error(`write failed on ${name}: ${out}`);
      }
    }
    await dom.monitorCommand(`qemu-io ${node} flush`, { hmp: true });
  }
}
