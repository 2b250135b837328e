#!/bin/bash
# The README's main job, on a fresh Debian 12 machine with Node 20: installs what is needed, builds
# virtvault, brings up a lab host with a demo VM holding data, and runs the virtvault binary.
# (The backup engine issue turns this into a full + incremental backup and a byte-exact restore.)
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=test/lab/lab
bash $LAB install
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
bash $LAB up a
bash $LAB vm demo1 1G --disks 2
bash $LAB write demo1 vda 0 8M --random demo-vda
bash $LAB write demo1 vdb 256M 4M --pattern 0x42
echo
virsh -c "$(bash $LAB uri a)" domblklist demo1
echo
node packages/cli/dist/main.js --version
node packages/cli/dist/main.js --help
