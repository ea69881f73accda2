#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library that onnxruntime_go v1.27.0 needs
# (ORT 1.24, API 24) from the npm package onnxruntime-node@1.24.3, without
# running the package's install scripts, verifies its sha256 and installs it
# as DEST_DIR/libonnxruntime.so.1 (default: .local/lib in the project,
# git-ignored).
#
# Usage: scripts/fetch-onnxruntime.sh [DEST_DIR [ARCH]]
#   ARCH is x64 or arm64 (Go's amd64/arm64 are accepted too); default: this
#   machine's. The package has no 32-bit ARM (armv7) build.
# Env:   ONNXRUNTIME_LIB  if set and the file exists, and ARCH is not given,
#        nothing is fetched.
set -euo pipefail

ORT_NPM_VERSION=1.24.3
# Both sha256 were read from the files in onnxruntime-node-1.24.3.tgz (npm
# checks the tarball against the registry's sha512 integrity on download):
# x64 when the project started, arm64 on 2026-11-22.
SHA_X64=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
SHA_ARM64=33032cb5b91c12edbf028d7c69fa40a31848d66c0095448758af237d5e0b07db

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/.local/lib}
out=$dest/libonnxruntime.so.1

if [[ $# -lt 2 && -n "${ONNXRUNTIME_LIB:-}" && -f "${ONNXRUNTIME_LIB}" ]]; then
  echo "onnxruntime: using ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB}"
  exit 0
fi

arch=${2:-$(uname -m)}
case "$arch" in
  x86_64|amd64|x64) arch=x64; want=$SHA_X64 ;;
  aarch64|arm64) arch=arm64; want=$SHA_ARM64 ;;
  *) echo "onnxruntime: unsupported architecture $arch (onnxruntime-node@${ORT_NPM_VERSION} ships linux x64 and arm64 only);" \
       "set ONNXRUNTIME_LIB to your own libonnxruntime.so (ORT 1.24)" >&2; exit 1 ;;
esac

if [[ -f "$out" ]]; then
  if echo "$want  $out" | sha256sum -c --status; then
    exit 0
  fi
  echo "onnxruntime: $out has the wrong sha256, fetching again" >&2
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "onnxruntime: npm is needed to fetch onnxruntime-node@${ORT_NPM_VERSION} (apt-get install npm)," >&2
  echo "  or set ONNXRUNTIME_LIB to an existing libonnxruntime.so.1 (ONNX Runtime 1.24)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "onnxruntime: fetching onnxruntime-node@${ORT_NPM_VERSION} ($arch) with npm pack (no install scripts)"
(cd "$tmp" && npm pack --silent --ignore-scripts "onnxruntime-node@${ORT_NPM_VERSION}" >/dev/null)
tar -xzf "$tmp"/onnxruntime-node-${ORT_NPM_VERSION}.tgz -C "$tmp" "package/bin/napi-v6/linux/${arch}/libonnxruntime.so.1"
lib="$tmp/package/bin/napi-v6/linux/${arch}/libonnxruntime.so.1"
got=$(sha256sum "$lib" | cut -d' ' -f1)
if [[ "$got" != "$want" ]]; then
  echo "onnxruntime: sha256 mismatch for linux/${arch}/libonnxruntime.so.1 in onnxruntime-node@${ORT_NPM_VERSION}: got $got, want $want" >&2
  exit 1
fi
mkdir -p "$dest"
install -m 0644 "$lib" "$out.tmp"
mv -f "$out.tmp" "$out"
echo "onnxruntime: installed $out"
