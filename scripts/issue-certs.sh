#!/usr/bin/env bash
# Issues the certificates a suanchou deployment needs, with plain openssl (docs/tls.md explains
# each command). Keys are EC P-256, unencrypted PEM (gRPC cannot read encrypted keys), mode 600.
#
#   scripts/issue-certs.sh DIR ca                        DIR/ca.pem, DIR/ca.key (keep ca.key offline)
#   scripts/issue-certs.sh DIR server NAME [NAME ...]    DIR/server.pem/.key; every NAME (DNS name or
#                                                        IP address clients dial) goes into the SAN
#   scripts/issue-certs.sh DIR client NAME               DIR/NAME.pem/.key with CN and SAN DNS = NAME:
#                                                        a cluster agent (NAME = the cluster's name)
#                                                        or a CLI user under mTLS
#
# Validity: DAYS (default 365) for server and client certificates, CA_DAYS (default 3650).
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" >&2
  exit 2
}
[ $# -ge 2 ] || usage
dir=$1
kind=$2
shift 2
mkdir -p "$dir"
umask 077

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# sign STEM CN EXTENSIONS: a CSR for DIR/STEM.key signed by the CA with the given extensions.
sign() {
  local stem=$1 cn=$2 extensions=$3
  [ -f "$dir/ca.key" ] || { echo "error: $dir/ca.key not found: run '$0 $dir ca' first" >&2; exit 2; }
  new_key "$dir/$stem.key"
  openssl req -new -key "$dir/$stem.key" -subj "/CN=$cn" -out "$dir/$stem.csr"
  printf '%s\n' "$extensions" >"$dir/$stem.ext"
  openssl x509 -req -in "$dir/$stem.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days "${DAYS:-365}" -sha256 -extfile "$dir/$stem.ext" \
    -out "$dir/$stem.pem" 2>/dev/null
  rm -f "$dir/$stem.csr" "$dir/$stem.ext"
  chmod 644 "$dir/$stem.pem"
  echo "issued $dir/$stem.pem (key $dir/$stem.key)"
}

san_entry() {
  # An IPv4 or IPv6 literal is an IP entry; anything else a DNS name.
  if [[ $1 =~ ^[0-9.]+$ || $1 == *:* ]]; then echo "IP:$1"; else echo "DNS:$1"; fi
}

case $kind in
  ca)
    [ $# -eq 0 ] || usage
    # A new CA key would orphan every certificate issued so far; never overwrite one.
    [ ! -e "$dir/ca.key" ] || { echo "error: $dir/ca.key exists; remove it to start a new CA" >&2; exit 2; }
    new_key "$dir/ca.key"
    openssl req -x509 -key "$dir/ca.key" -subj "/CN=suanchou CA" -days "${CA_DAYS:-3650}" \
      -sha256 -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.pem"
    chmod 644 "$dir/ca.pem"
    echo "issued $dir/ca.pem (key $dir/ca.key)"
    ;;
  server)
    [ $# -ge 1 ] || usage
    san=""
    for name in "$@"; do san="${san:+$san,}$(san_entry "$name")"; done
    sign server "$1" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san"
    ;;
  client)
    [ $# -eq 1 ] || usage
    [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { echo "error: client NAME: letters, digits, . _ - only" >&2; exit 2; }
    sign "$1" "$1" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=DNS:$1"
    ;;
  *)
    usage
    ;;
esac
