#!/usr/bin/env bash
# Builds a minimal telegraf (inputs.file, inputs.exec, outputs.mqtt, the
# JSON serializer) from the Go module proxy into .local/bin/telegraf, for
# the telegraf end-to-end test (edge/ingest, TestTelegrafE2E). Cached: does
# nothing when .local/bin/telegraf already reports TELEGRAF_VERSION.
# Telegraf's go.mod has replace directives, so `go install pkg@version` is
# refused; the module source is downloaded and built in place instead.
set -euo pipefail
version=${TELEGRAF_VERSION:-v1.37.2}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.local/bin/telegraf"
if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -q "${version#v}"; then
  exit 0
fi
go=${GO:-go}
echo "telegraf: building $version (minimal custom build; several minutes the first time)" >&2
dir=$(GOFLAGS=-mod=mod "$go" mod download -json "github.com/influxdata/telegraf@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z "$dir" || ! -d "$dir" ]]; then
  echo "telegraf: could not download github.com/influxdata/telegraf@$version from the module proxy" >&2
  exit 1
fi
mkdir -p "$root/.local/bin"
tags=custom,inputs.file,inputs.exec,outputs.mqtt,serializers.json,parsers.json,parsers.influx
(cd "$dir" && GOFLAGS= "$go" build -trimpath -tags "$tags" \
  -ldflags "-s -w -X github.com/influxdata/telegraf/internal.Version=${version#v}" \
  -o "$bin" ./cmd/telegraf)
"$bin" --version >&2
