#!/usr/bin/env node
// Bundles the `virtvault` binary: packages/cli/dist/main.js and everything it imports from our
// packages (and a few small pure-JS dependencies) into packages/cli/dist/bundle/, one file per lazily
// loaded part. Run after `tsc -b` (`npm run build` does both).
//
// Why: node resolves, reads and links every ES module on its own; a backup loaded ~180 files, which
// cost ~0.33 s before any work began (0.15 s bundled; measured by importing the engine, the lineage
// and the repository, 3 runs each). Every command starts that much sooner.
//
// What stays outside: dependencies that load files or native code relative to themselves (PGlite's
// WebAssembly, zstd's addon, gRPC's and BullMQ's scripts); node finds them in node_modules as before.
// Code that locates files of its own package through `import.meta.url` (SQL files, migrations, the
// libvirt addon, the chunk worker, package.json) keeps doing so: in each bundled module,
// `import.meta.url` is rewritten to that module's own compiled file under its package's dist/.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = path.join(ROOT, 'packages/cli/dist/bundle');

/** Third-party packages bundled in: pure JS, no files or addons of their own at run time. */
const INLINE = new Set([
  'commander',
  'yaml',
  'postgres',
  'fast-xml-parser',
  'fast-xml-builder',
  'strnum',
  'anynum',
  'is-unsafe',
  'path-expression-matcher',
  'xml-naming',
  '@nodable/entities',
]);

/** The package name of a bare import (`@scope/name/sub` -> `@scope/name`). */
function packageName(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

/** Keeps every bare import outside the bundle except ours and the inlined packages. */
const externals = {
  name: 'externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const name = packageName(args.path);
      if (args.path.startsWith('node:') || (!name.startsWith('@virtvault/') && !INLINE.has(name))) {
        return { path: args.path, external: true };
      }
      return undefined;
    });
  },
};

/** The chunk workers' entry as `worker-set.js` names it (the build fails when it no longer does). */
const WORKER_SET = path.join('repo', 'dist', 'worker', 'worker-set.js');
const WORKER_URL = "new URL('./hash-worker.js', import.meta.url)";

/**
 * Gives every bundled module its own file's `import.meta.url`, relative to the bundle's folder,
 * except the chunk workers' entry, which is the bundled one in the bundle's folder.
 */
const ownUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.(m?js)$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta.url')) {
        return undefined;
      }
      const rel = path.relative(OUT_DIR, args.path).split(path.sep).join('/');
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      // the chunk workers start from the bundled worker beside the bundle (built below)
      if (args.path.endsWith(WORKER_SET) && !source.includes(WORKER_URL)) {
        throw new Error(`${WORKER_SET} no longer names its worker as ${WORKER_URL}`);
      }
      const own = source.replace(WORKER_URL, 'new URL("./hash-worker.js", import.meta.__bundle)');
      const contents = own
        .replaceAll('import.meta.url', url)
        .replace('import.meta.__bundle', 'import.meta.url');
      return { contents, loader: 'js' };
    });
  },
};

/** What both builds share: ES modules for node 20, our externals and `import.meta.url` rules. */
const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // CommonJS dependencies (commander) call require() for node's own modules
  banner: {
    js: "import { createRequire as __bundleRequire } from 'node:module';\nconst require = __bundleRequire(import.meta.url);",
  },
  plugins: [externals, ownUrl],
  logLevel: 'warning',
  metafile: true,
};

// parts are named by content hash: a rebuild would otherwise leave the old ones behind
await rm(OUT_DIR, { recursive: true, force: true });
const result = await build({
  ...common,
  entryPoints: { virtvault: path.join(ROOT, 'packages/cli/dist/main.js') },
  outdir: OUT_DIR,
  splitting: true,
  // the lazily loaded parts of a command stay lazily loaded (see packages/cli/src/lazy.ts)
  chunkNames: 'part-[hash]',
});
// The chunk workers, bundled too: a worker loading its ~15 modules one by one was ready in 45-55 ms,
// bundled in 32-34 ms, with ~10 ms less CPU each (2 workers started 4 times each way), on the two
// cores an incremental backup keeps busy.
const worker = await build({
  ...common,
  entryPoints: [path.join(ROOT, 'packages/repo/dist/worker/hash-worker.js')],
  outfile: path.join(OUT_DIR, 'hash-worker.js'),
});
const workerInputs = Object.keys(worker.metafile.inputs).length;
const files = Object.keys(result.metafile.outputs).length + 1;
const inputs = Object.keys(result.metafile.inputs).length + workerInputs;
console.log(`bundle: ${inputs} modules -> ${files} files in ${path.relative(ROOT, OUT_DIR)}/`);
