#!/bin/bash
# The README's main job, on a fresh Debian 12 machine with Node 20: installs what is needed, builds
# virtvault, brings up a lab host with a demo VM holding data on two disks, and then, through the
# virtvault binary: a full backup, guest writes, an incremental backup, a restore of each snapshot
# compared byte for byte (qemu-img compare) with the disks as they were at that moment, the
# snapshot list and doctor's view of the chain.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB="bash test/lab/lab"
DEMO=${DEMO_DIR:-/var/tmp/virtvault-demo}
VV="node packages/cli/dist/bundle/virtvault.js"
step() { printf '\n== %s\n' "$*"; }

step "prerequisites (apt, npm) and build"
$LAB install
bash scripts/npm-install.sh --if-needed
npm run build >/dev/null

step "lab host a and the demo VM demo1 (two 1 GiB qcow2 disks)"
$LAB up a
$LAB rmvm demo1
rm -rf "$DEMO" "$($LAB image demo1 vda)" "$($LAB image demo1 vdb)"
mkdir -p "$DEMO/scratch"
$LAB vm demo1 1G --disks 2
$LAB write demo1 vda 0 64M --random demo-vda
$LAB write demo1 vdb 256M 32M --random demo-vdb
HOST=(--connect "$($LAB uri a)" --host a --state "$DEMO/state" --scratch "$DEMO/scratch")

copy() { # the disks as they are now, to compare restores against
    for d in vda vdb; do qemu-img convert -U -O raw "$($LAB image demo1 $d)" "$DEMO/src-$1-$d.raw"; done
}

step "full backup"
$VV backup --domain demo1 --repo "$DEMO/repo" "${HOST[@]}"
copy full

step "guest writes: 8 MiB contiguous and 64 KiB scattered"
$LAB write demo1 vda 512M 8M --random demo-inc
for off in 3M 100M 700M; do $LAB write demo1 vdb "$off" 64K --pattern 0x5a; done

step "incremental backup"
$VV backup --domain demo1 --repo "$DEMO/repo" "${HOST[@]}"
copy inc

step "snapshots"
$VV snapshots --repo "$DEMO/repo"

step "restore every snapshot and compare"
n=0
for id in $($VV snapshots --repo "$DEMO/repo" --json | node -e '
    const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
    console.log(d.snapshots.map((s) => s.id).join(" "))'); do
    n=$((n + 1)); tag=$([ $n = 1 ] && echo full || echo inc)
    $VV restore --repo "$DEMO/repo" --domain demo1 --snapshot "$id" --output "$DEMO/restore-$tag"
    for d in vda vdb; do
        printf '%s %s: ' "$tag" "$d"
        qemu-img compare -U -f qcow2 -F raw "$DEMO/restore-$tag/$d.qcow2" "$DEMO/src-$tag-$d.raw"
    done
done

step "doctor: the chain and what the next backup will do"
$VV doctor --domain demo1 --repo "$DEMO/repo" "${HOST[@]}"

step "virtvault --help"
$VV --help
