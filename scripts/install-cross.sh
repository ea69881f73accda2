#!/usr/bin/env bash
# Installs, from Debian's packages and only where missing, what building and
# testing the linux/arm64 release needs on an amd64 Debian machine:
#   the cgo cross compiler and arm64 C library (gcc-aarch64-linux-gnu,
#   libc6-dev-arm64-cross), and with --qemu also user-mode emulation
#   (qemu-user) to run the arm64 binary here.
# Fails loudly if something is missing and cannot be installed (not root and
# no sudo, or not Debian).
set -euo pipefail

need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
[[ -e /usr/aarch64-linux-gnu/include/stdio.h ]] || need+=(libc6-dev-arm64-cross)
if [[ "${1:-}" == "--qemu" ]]; then
  command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
  [[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]] || need+=(libstdc++6-arm64-cross)
fi
[[ ${#need[@]} -eq 0 ]] && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "cross: missing ${need[*]} and not root; run: apt-get install ${need[*]}" >&2; exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "cross: missing ${need[*]} (Debian package names) and no apt-get here; install the arm64 cross compiler by hand" >&2
  exit 1
fi
echo "cross: installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
command -v aarch64-linux-gnu-gcc >/dev/null || { echo "cross: aarch64-linux-gnu-gcc still missing after install" >&2; exit 1; }
