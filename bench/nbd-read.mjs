#!/usr/bin/env node
// Read benchmark: @virtvault/nbd vs nbdcopy (defaults, to null:) against qemu-nbd on a unix socket.
// The export is 4 GiB holding 2 GiB of random data in 1024 scattered 2 MiB slots (fixed seed).
// Both sides skip holes using base:allocation; ours discards the data after reading it.
// Last line: nbd-read: ours=<MiB/s> nbdcopy=<MiB/s> ratio=<ours/nbdcopy> rss=<MiB>
// MiB/s counts allocated data bytes (2048 MiB) per wall-clock second.
//   node bench/nbd-read.mjs [--runs 5] [--connections 4] [--requests 4] [--request-size 262144]
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { prng } from './bench-lab.mjs';

const MiB = 1024 * 1024;
const SIZE = 4096 * MiB;
const SLOT = 2 * MiB;
const SLOTS = 1024;
const SEED = 0x5eed;

const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    connections: { type: 'string', default: '4' },
    requests: { type: 'string', default: '4' },
    'request-size': { type: 'string', default: String(256 * 1024) },
    child: { type: 'string' },
    image: { type: 'string', default: `/var/tmp/vv-bench-nbd-read-${SEED.toString(16)}.raw` },
  },
});

function makeImage(path) {
  if (existsSync(path)) {
    return;
  }
  const rnd = prng(SEED);
  const idx = Array.from({ length: SIZE / SLOT }, (_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const chosen = idx.slice(0, SLOTS).sort((a, b) => a - b);
  const key = Buffer.alloc(16, 0x42);
  key.writeUInt32BE(SEED, 0);
  const aes = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(SLOT);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  ftruncateSync(fd, SIZE);
  for (const s of chosen) {
    writeSync(fd, aes.update(zero), 0, SLOT, s * SLOT);
  }
  closeSync(fd);
  renameSync(tmp, path);
}

async function child(uri) {
  const { NbdClient, walkExtents } = await import('../packages/nbd/dist/index.js');
  const requestSize = Number(opt['request-size']);
  const client = await NbdClient.connect({
    uri,
    metaContexts: ['base:allocation'],
    connections: Number(opt.connections),
    maxInFlight: Number(opt.requests),
    requestSize,
  });
  const window = client.connections * Number(opt.requests);
  const free = Array.from({ length: window }, () => Buffer.allocUnsafe(requestSize));
  const waiting = [];
  let bytes = 0;
  let sum = 0;
  const inflight = new Set();
  const t0 = process.hrtime.bigint();
  for await (const e of walkExtents(client, { contexts: ['base:allocation'] })) {
    if (!e.allocated || e.zero) {
      continue;
    }
    for (let off = e.offset; off < e.offset + e.length; off += requestSize) {
      const len = Math.min(requestSize, e.offset + e.length - off);
      while (free.length === 0) {
        await new Promise((r) => waiting.push(r));
      }
      const buf = free.pop();
      const p = client.read(off, len, { into: buf }).then((b) => {
        // Discard the data, but touch it so the read cannot be optimised away.
        sum = (sum + b[0] + b[b.length - 1]) | 0;
        bytes += b.length;
        free.push(buf);
        inflight.delete(p);
        waiting.shift()?.();
      });
      inflight.add(p);
    }
  }
  await Promise.all(inflight);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await client.close();
  const rss = process.resourceUsage().maxRSS / 1024;
  const { user, system } = process.cpuUsage();
  const cpu = (user + system) / 1e6;
  process.stdout.write(
    JSON.stringify({ bytes, secs, rss, cpu, sum, connections: client.connections }) + '\n',
  );
}

function runOurs(uri) {
  const r = spawnSync(
    process.execPath,
    [new URL(import.meta.url).pathname, '--child', uri, ...passThrough()],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) {
    throw new Error(`ours failed: ${r.stderr}`);
  }
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  if (res.bytes !== SLOTS * SLOT) {
    throw new Error(`ours read ${res.bytes} bytes, expected ${SLOTS * SLOT}`);
  }
  return res;
}

function passThrough() {
  return [
    '--connections',
    opt.connections,
    '--requests',
    opt.requests,
    '--request-size',
    opt['request-size'],
  ];
}

function runNbdcopy(uri) {
  const t0 = process.hrtime.bigint();
  execFileSync('nbdcopy', [uri, 'null:']);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (opt.child !== undefined) {
    return child(opt.child);
  }
  makeImage(opt.image);
  const dir = mkdtempSync('/var/tmp/vvb-');
  const sock = join(dir, 's');
  const pidFile = join(dir, 'pid');
  execFileSync('qemu-nbd', [
    '--fork',
    '-r',
    '-t',
    '-e',
    '16',
    '-f',
    'raw',
    '-k',
    sock,
    `--pid-file=${pidFile}`,
    opt.image,
  ]);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  const uri = `nbd+unix:///?socket=${sock}`;
  try {
    runNbdcopy(uri); // warm the page cache
    const ours = [];
    const theirs = [];
    let rss = 0;
    for (let i = 0; i < Number(opt.runs); i++) {
      const o = runOurs(uri);
      const mibs = (SLOTS * SLOT) / MiB / o.secs;
      ours.push(mibs);
      rss = Math.max(rss, o.rss);
      const n = (SLOTS * SLOT) / MiB / runNbdcopy(uri);
      theirs.push(n);
      console.log(
        `run ${i + 1}: ours=${mibs.toFixed(0)} MiB/s (conns=${o.connections}, rss=${o.rss.toFixed(0)} MiB, cpu=${o.cpu.toFixed(2)} s) nbdcopy=${n.toFixed(0)} MiB/s`,
      );
    }
    const a = median(ours);
    const b = median(theirs);
    console.log(
      `nbd-read: ours=${a.toFixed(0)} nbdcopy=${b.toFixed(0)} ratio=${(a / b).toFixed(2)} rss=${rss.toFixed(0)}`,
    );
  } finally {
    process.kill(pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
