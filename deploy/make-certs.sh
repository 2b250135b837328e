#!/bin/bash
# make-certs.sh - the private CA and the mTLS certificates of a virtvault fleet (EC P-256).
#
# Usage:
#   deploy/make-certs.sh OUTDIR [--controller NAME]... [--agent HOST]... [--ip ADDR]... [--days N]
#
#   OUTDIR/ca.crt, ca.key               the CA (created once; never replaced)
#   OUTDIR/NAME.crt, NAME.key           a client certificate per --controller (SAN DNS=NAME, CN=NAME,
#                                       extendedKeyUsage clientAuth)
#   OUTDIR/HOST.crt, HOST.key           one server certificate per agent host (SAN DNS=HOST, plus
#                                       IP=ADDR for each --ip, extendedKeyUsage serverAuth)
#
# Idempotent: existing files are kept, so re-running with one more --agent adds just that host.
# Keys are 0600. Copy ca.crt + HOST.crt + HOST.key to each host, ca.crt + NAME.crt + NAME.key to the
# controller. The agent accepts only the controller NAME its config names; the controller checks
# that an agent's certificate names the host it dialled.
set -euo pipefail
umask 077

die() { echo "make-certs: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: make-certs.sh OUTDIR [--controller NAME] [--agent HOST]... [--ip ADDR]..."
OUT=$1; shift
CONTROLLERS=()
AGENTS=()
IPS=()
DAYS=825
while [ $# -gt 0 ]; do
    case "$1" in
        --controller) CONTROLLERS+=("${2:?--controller needs a NAME}"); shift 2 ;;
        --agent) AGENTS+=("${2:?--agent needs a HOST}"); shift 2 ;;
        --ip) IPS+=("${2:?--ip needs an address}"); shift 2 ;;
        --days) DAYS=${2:?--days needs a number}; shift 2 ;;
        *) die "unknown argument: $1" ;;
    esac
done

valid_name() { [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "not a DNS name: '$1'"; }

mkdir -p "$OUT"

# new_key FILE: an EC P-256 key, 0600
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

make_ca() {
    [ -f "$OUT/ca.crt" ] && return
    new_key "$OUT/ca.key"
    openssl req -x509 -new -key "$OUT/ca.key" -sha256 -days 3650 -subj "/CN=virtvault fleet CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$OUT/ca.crt"
    chmod 644 "$OUT/ca.crt"
    echo "make-certs: CA $OUT/ca.crt" >&2
}

# issue NAME USAGE SAN: a leaf certificate signed by the CA, unless NAME.crt exists
issue() {
    local name=$1 usage=$2 san=$3 ext
    [ -f "$OUT/$name.crt" ] && return
    new_key "$OUT/$name.key"
    ext=$(mktemp)
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
        "$usage" "$san" > "$ext"
    openssl req -new -key "$OUT/$name.key" -subj "/CN=$name" 2>/dev/null |
        openssl x509 -req -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -CAcreateserial -sha256 \
            -days "$DAYS" -extfile "$ext" -out "$OUT/$name.crt" 2>/dev/null
    rm -f "$ext"
    chmod 644 "$OUT/$name.crt"
    echo "make-certs: $usage certificate $OUT/$name.crt ($san)" >&2
}

make_ca
for name in "${CONTROLLERS[@]}"; do
    valid_name "$name"
    issue "$name" clientAuth "DNS:$name"
done
for host in "${AGENTS[@]}"; do
    valid_name "$host"
    san="DNS:$host"
    for ip in "${IPS[@]}"; do san+=",IP:$ip"; done
    issue "$host" serverAuth "$san"
done
