#!/usr/bin/env bash
# make test-arm64: the linux/arm64 build, built and run on an amd64 Debian
# machine. Cross-compiles edgepm with cgo (gcc-aarch64-linux-gnu), fetches
# the arm64 ONNX Runtime (sha256-pinned), and runs TestARM64
# (cmd/edgepm/arm64_e2e_test.go): "edgepm version" under qemu-aarch64, then
# a native Mosquitto and kfake with the arm64 edgepm under emulation, 10,000
# QoS 1 readings, all in edgepm.readings, predictions present, and the
# scores of the same readings equal to the amd64 build's within 1e-5.
# Installs what it needs from Debian's packages where missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
case "$(uname -m)" in
  x86_64|amd64) ;;
  *) echo "test-arm64: runs on an amd64 machine (it emulates arm64); on an arm64 machine run make test" >&2; exit 1 ;;
esac

scripts/install-cross.sh --qemu
scripts/install-mosquitto.sh
scripts/fetch-onnxruntime.sh                       # the native library, for the amd64 reference run
env -u ONNXRUNTIME_LIB scripts/fetch-onnxruntime.sh .local/ort/linux-arm64 arm64

version=$(scripts/pkg-version.sh)
mkdir -p .local/arm64
echo "test-arm64: building edgepm $version for linux/arm64"
GOOS=linux GOARCH=arm64 CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc $GO build -trimpath \
  -ldflags "-X github.com/edgepm/edgepm/edge.Version=$version" -o .local/arm64/edgepm ./cmd/edgepm

export EDGEPM_ARM64_BIN=$root/.local/arm64/edgepm
export EDGEPM_ARM64_ORT=$root/.local/ort/linux-arm64/libonnxruntime.so.1
export EDGEPM_QEMU=qemu-aarch64
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$root/.local/lib/libonnxruntime.so.1}
$GO test -tags arm64e2e -run '^TestARM64$' -count=1 -timeout 40m -v ./cmd/edgepm
