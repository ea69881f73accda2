#!/usr/bin/env bash
# Prints the release version, usable as a Debian package version:
#   on a tag vX.Y.Z:  X.Y.Z
#   otherwise:        <last tag or 0.0.0>~git<commit time, UTC>.<short hash>
#   with uncommitted changes: +dirty appended.
# The commit time makes versions between tags increase along the history,
# so dpkg sees a later commit's package as an upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --git-dir >/dev/null 2>&1; then echo "0.0.0~unknown"; exit 0; fi
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
  v=${tag#v}
else
  base=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null || echo v0.0.0)
  when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S)
  v="${base#v}~git${when}.$(git rev-parse --short=7 HEAD)"
fi
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then v="$v+dirty"; fi
echo "$v"
