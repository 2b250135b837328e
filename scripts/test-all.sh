#!/bin/bash
# The README's test command: from a fresh Debian 12 machine with Node 20 to a full test run.
# Installs the apt packages (libvirt, QEMU, NBD tools, Postgres, Redis, g++), installs the npm
# dependencies (building the native addons), builds, lints, brings up the lab and runs every tier.
# The last line is the test summary; the wall time of the whole run is printed just before it.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash test/lab/lab install
bash scripts/npm-install.sh
# a summary left by an earlier run must never stand in for this one's
rm -f .test-results/summary.txt
npm run build
npm run lint
status=0
node scripts/run-tests.mjs all || status=$?
bash test/lab/lab down || true
echo "whole run (install, build, lint, tests): $(($(date +%s) - started)) s"
# the runner's summary stays the closing line
tail -n 1 .test-results/summary.txt 2>/dev/null || echo "tests: 0 passed, 1 failed"
exit "$status"
