#!/bin/bash
# The npm dependencies as `npm ci` installs them from the lockfile, native addons (libvirt, syncfs,
# image-lock, zstd) built against the headers installed with this Node: node-gyp would otherwise download them
# from nodejs.org, which a machine with only the npm registry and Debian's packages cannot reach.
#   bash scripts/npm-install.sh              always a clean `npm ci` (the test command)
#   bash scripts/npm-install.sh --if-needed  only when the tree is missing, incomplete or does not
#                                            match package.json, or an addon is not built (demo, bench)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${npm_config_nodedir:-}" ]; then
    prefix=$(node -p 'require("path").resolve(process.execPath, "../..")')
    if [ -f "$prefix/include/node/node_api.h" ]; then
        export npm_config_nodedir="$prefix"
    fi
fi
if [ "${1:-}" = --if-needed ] && [ -d node_modules ] && npm ls --all >/dev/null 2>&1 &&
    [ -f packages/libvirt/build/Release/virtvault_libvirt.node ] &&
    [ -f packages/repo/build/Release/virtvault_syncfs.node ] &&
    [ -f packages/engine/build/Release/virtvault_image_lock.node ]; then
    exit 0
fi
npm ci --no-audit --no-fund
