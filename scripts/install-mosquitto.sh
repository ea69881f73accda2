#!/usr/bin/env bash
# Installs Mosquitto (broker and clients) from Debian's packages if missing.
# The tests start their own private broker on a free port; the system
# service, if the package starts one, is not used.
set -euo pipefail
if command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]]; then
  if command -v mosquitto_pub >/dev/null 2>&1; then exit 0; fi
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "mosquitto: not installed and not root; run: apt-get install mosquitto mosquitto-clients" >&2; exit 1
  fi
fi
echo "mosquitto: installing from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends mosquitto mosquitto-clients >/dev/null
command -v mosquitto_pub >/dev/null
echo "mosquitto: installed $(/usr/sbin/mosquitto -h 2>/dev/null | head -1)"
