#!/usr/bin/env bash
# need.sh COMMAND PACKAGE...: installs PACKAGE... from Debian's packages
# unless COMMAND is already on the PATH (or in /usr/sbin). Used by the
# Makefile so `make test` and `make run` install what they need themselves.
set -euo pipefail
cmd=$1; shift
if command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]]; then exit 0; fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "$cmd: not installed and not root; run: apt-get install $*" >&2; exit 1
  fi
fi
echo "$cmd: installing $* from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
command -v "$cmd" >/dev/null || [[ -x /usr/sbin/$cmd ]]
