#!/usr/bin/env node
// Runs the test tiers with node's own test runner over the compiled tests (run `npm run build` first).
//   node scripts/run-tests.mjs unit|integration|e2e|all [--only SUBSTRING]
// Tiers by file name: *.int.test.js = integration, *.e2e.test.js = end-to-end, other *.test.js = unit.
// Integration and end-to-end tiers bring the lab up first (test/lab/lab up a b; services up).
// A skipped or todo test fails the run: a test that did not run is not a passing test.
// Tests put what a human should look at (e.g. the dashboard's screenshots) under
// .test-results/artifacts/<area>/; the summary lists those directories.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const TIERS = ['unit', 'integration', 'e2e'];
// every tier and the lab script share one lab
process.env.LAB_ROOT ??= '/var/tmp/virtvault-lab';

function walk(dir, out = []) {
  if (!existsSync(dir)) {
    return out;
  }
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') {
      continue;
    }
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      walk(p, out);
    } else if (name.endsWith('.test.js')) {
      out.push(p);
    }
  }
  return out;
}

function tierOf(file) {
  if (file.endsWith('.int.test.js')) {
    return 'integration';
  }
  if (file.endsWith('.e2e.test.js')) {
    return 'e2e';
  }
  return 'unit';
}

/**
 * Whether a compiled test still has its source (`packages/X/dist/…` from `packages/X/src/…`,
 * `test/dist/…` from `test/…`): on a reused checkout, a test deleted or renamed since the last
 * build would otherwise keep running from its old output, unlike on a fresh one.
 */
function hasSource(file) {
  const ts = file.replace(/\.js$/, '.ts');
  return [ts.replace('/dist/', '/src/'), ts.replace('/dist/', '/')].some((f) => existsSync(f));
}

function findTests() {
  const dirs = readdirSync(join(ROOT, 'packages')).map((p) => join(ROOT, 'packages', p, 'dist'));
  dirs.push(join(ROOT, 'test', 'dist'));
  const all = dirs.flatMap((d) => walk(d)).sort();
  for (const f of all.filter((x) => !hasSource(x))) {
    console.log(`ignored (its source is gone): ${relative(ROOT, f)}`);
  }
  return all.filter(hasSource);
}

function runTier(tier, files) {
  const concurrency = tier === 'unit' ? 2 : 1;
  // as the CLI does: PGlite starts in 1 s instead of 5 s with Liftoff only (no wasm tier-up)
  const args = [
    '--liftoff-only',
    '--test',
    '--test-reporter=spec',
    `--test-concurrency=${concurrency}`,
    ...files,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      out += d.toString();
    });
    child.on('close', (code) => resolve({ code, counts: parseCounts(out) }));
  });
}

function parseCounts(out) {
  const get = (k) => {
    const m = [...out.matchAll(new RegExp(`^\\S* ?${k} (\\d+)$`, 'gm'))].pop();
    return m ? Number(m[1]) : 0;
  };
  return {
    pass: get('pass'),
    fail: get('fail'),
    skipped: get('skipped'),
    todo: get('todo'),
    cancelled: get('cancelled'),
  };
}

/** Newest mtime (ms) of the compiled code the CLI's bundle is made from. */
function newestPackageCode(dir = join(ROOT, 'packages'), depth = 0) {
  let newest = 0;
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'bundle' || name === '__tests__') {
      continue;
    }
    const st = statSync(p);
    if (st.isDirectory()) {
      // packages/<name>/dist/... only
      if (depth !== 1 || name === 'dist') {
        newest = Math.max(newest, newestPackageCode(p, depth + 1));
      }
    } else if (depth > 1 && name.endsWith('.js')) {
      newest = Math.max(newest, st.mtimeMs);
    }
  }
  return newest;
}

/**
 * The end-to-end tests run the `virtvault` bundle; one older than the packages it is made from
 * (`npx tsc -b` without `npm run build`) would test yesterday's code.
 */
function checkBundle() {
  const bundle = join(ROOT, 'packages', 'cli', 'dist', 'bundle', 'virtvault.js');
  if (!existsSync(bundle) || statSync(bundle).mtimeMs < newestPackageCode()) {
    console.error(
      'run-tests: packages/cli/dist/bundle is missing or older than the compiled packages: ' +
        'run `npm run build` (tsc -b, then the bundle)',
    );
    process.exit(2);
  }
}

function labUp() {
  const lab = join(ROOT, 'test', 'lab', 'lab');
  for (const args of [
    ['up', 'a', 'b'],
    ['services', 'up'],
  ]) {
    const r = spawnSync('bash', [lab, ...args], { stdio: 'inherit' });
    if (r.status !== 0) {
      throw new Error(`lab ${args.join(' ')} failed with exit code ${r.status}`);
    }
  }
}

async function main() {
  const which = process.argv[2] ?? 'all';
  const onlyIdx = process.argv.indexOf('--only');
  const only = onlyIdx > 0 ? process.argv[onlyIdx + 1] : undefined;
  const tiers = which === 'all' ? TIERS : [which];
  if (!tiers.every((t) => TIERS.includes(t))) {
    console.error(`usage: run-tests.mjs ${TIERS.join('|')}|all [--only SUBSTRING]`);
    process.exit(2);
  }
  const started = Date.now();
  const all = findTests().filter((f) => !only || f.includes(only));
  const total = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
  let failed = false;
  let labIsUp = false;
  for (const tier of tiers) {
    const files = all.filter((f) => tierOf(f) === tier);
    if (files.length === 0) {
      continue;
    }
    if (tier === 'e2e') {
      checkBundle();
    }
    if (tier !== 'unit' && !labIsUp) {
      labUp();
      labIsUp = true;
    }
    console.log(`\n=== ${tier}: ${files.length} files ===`);
    for (const f of files) {
      console.log(`  ${relative(ROOT, f)}`);
    }
    const t0 = Date.now();
    const { code, counts } = await runTier(tier, files);
    console.log(
      `=== ${tier}: ${counts.pass} passed, ${counts.fail} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s ===`,
    );
    for (const k of Object.keys(total)) {
      total[k] += counts[k];
    }
    if (code !== 0) {
      failed = true;
    }
  }
  const notRun = total.skipped + total.todo + total.cancelled;
  if (notRun > 0) {
    console.log(`${notRun} tests were skipped, todo or cancelled: that fails the run`);
    failed = true;
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\nwall time of the test run: ${secs} s`);
  const summary = `tests: ${total.pass} passed, ${total.fail + total.cancelled} failed`;
  mkdirSync(join(ROOT, '.test-results'), { recursive: true });
  writeFileSync(join(ROOT, '.test-results', 'summary.txt'), `${summary}\n`);
  const artifacts = join(ROOT, '.test-results', 'artifacts');
  for (const area of existsSync(artifacts) ? readdirSync(artifacts).sort() : []) {
    console.log(`artifacts: ${relative(ROOT, join(artifacts, area))}/`);
  }
  console.log(summary);
  process.exitCode = failed || total.pass === 0 ? 1 : 0;
}

await main();
