// What per-file fsync costs the repository writer: N small files written with an fsync each,
// against the same files written without and made durable by one `sync -f` (syncfs) at the end.
// Usage: node bench/fsync-cost.mjs [DIR] [FILES] [KIB]  (DIR on the repository's filesystem)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dir = path.join(process.argv[2] ?? '/var/tmp', `vv-fsync-cost-${process.pid}`);
const files = Number(process.argv[3] ?? 1000);
const buf = Buffer.alloc(Number(process.argv[4] ?? 24) * 1024, 7);
fs.mkdirSync(dir, { recursive: true });
try {
  let t = performance.now();
  for (let i = 0; i < files; i++) {
    const fd = fs.openSync(path.join(dir, `a${i}`), 'wx');
    fs.writeSync(fd, buf);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }
  const each = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < files; i++) {
    const fd = fs.openSync(path.join(dir, `b${i}`), 'wx');
    fs.writeSync(fd, buf);
    fs.closeSync(fd);
  }
  execFileSync('sync', ['-f', dir]);
  const once = performance.now() - t;
  console.log(
    `fsync-cost: files=${files} fsync_each_ms=${each.toFixed(0)} syncfs_once_ms=${once.toFixed(0)} ratio=${(each / once).toFixed(2)}`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
