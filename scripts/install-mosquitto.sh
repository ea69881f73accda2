#!/usr/bin/env bash
# Installs Mosquitto (broker and clients) from Debian's packages if missing.
# The tests start their own private broker on a free port; the system
# service, if the package starts one, is not used.
set -euo pipefail
dir=$(dirname "$0")
"$dir/need.sh" mosquitto mosquitto mosquitto-clients
"$dir/need.sh" mosquitto_pub mosquitto-clients
