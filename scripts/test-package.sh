#!/usr/bin/env bash
# make test-package: installs, upgrades, removes and purges the edgepm Debian
# package on THIS machine, as root, and checks each step:
#   1. dpkg -i of the previous version: files where the unit says, the unit
#      passes systemd-analyze verify, edgepm config check passes on the
#      installed example config, edgepm version runs;
#   2. a package for the other architecture is refused by dpkg;
#   3. /etc/edgepm edits and a buffer written by the installed binary;
#   4. upgrade to the current version: the edits and the buffer are kept;
#   5. a config that does not validate fails the unit's ExecStartPre command
#      with the config error (and, where systemd runs, systemctl start fails
#      without a restart loop);
#   6. dpkg -r keeps the config and the data; dpkg -P removes them.
# And the Mosquitto drop-in: step 1 runs with /etc/mosquitto/conf.d hidden
# (Mosquitto not installed: nothing is written there), step 4 with it
# present (the drop-in is installed), then a reinstall over an
# administrator's edgepm.conf must keep theirs. The machine's
# /etc/mosquitto/conf.d is put back as it was.
# "Previous version" is this tree packaged with a lower version number: the
# upgrade exercises dpkg's conffile and maintainer-script handling, not
# format changes between releases.
# Refuses to run if edgepm is already installed (it would be purged), unless
# EDGEPM_TEST_PACKAGE_FORCE=1. Purges what it installed when it ends, passed
# or failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
step() { echo "test-package: $*"; }
[[ $(id -u) -eq 0 ]] || fail "needs root (it runs dpkg -i / -r / -P on this machine)"
command -v dpkg >/dev/null || fail "not a Debian system (no dpkg)"
if dpkg-query -W -f '${Status}' edgepm 2>/dev/null | grep -q installed && [[ "${EDGEPM_TEST_PACKAGE_FORCE:-}" != 1 ]]; then
  fail "edgepm is installed on this machine; the test would purge it (EDGEPM_TEST_PACKAGE_FORCE=1 to go on)"
fi
if ! command -v systemd-analyze >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

host=$(dpkg --print-architecture)
case $host in amd64) other=arm64 ;; arm64) other=amd64 ;; *) fail "no edgepm package for $host" ;; esac
work=$(mktemp -d)
runpid=""
confd=/etc/mosquitto/conf.d
[[ ! -e $confd/edgepm.conf ]] || fail "$confd/edgepm.conf exists on this machine; the test would replace it"
confd_was=no; [[ -d $confd ]] && confd_was=yes
restore_confd() {
  rm -f "$confd/edgepm.conf"
  if [[ -d "$work/conf.d" ]]; then rmdir "$confd" 2>/dev/null || true; mv "$work/conf.d" "$confd"; fi
  if [[ $confd_was == no ]]; then rmdir "$confd" 2>/dev/null || true; rmdir /etc/mosquitto 2>/dev/null || true; fi
}
cleanup() {
  [[ -n "$runpid" ]] && kill "$runpid" 2>/dev/null || true
  restore_confd
  # A failed run leaves nothing behind either: the machine had no edgepm.
  dpkg -P edgepm >/dev/null 2>&1 || true
  rm -rf "$work" /etc/edgepm /var/lib/edgepm /var/lib/private/edgepm
}
trap cleanup EXIT

version=$(scripts/pkg-version.sh)
prev="0~test1"
dpkg --compare-versions "$prev" lt "$version" || fail "test version $prev is not below $version"
scripts/install-cross.sh
cur_deb=dist/edgepm_${version}_${host}.deb
other_deb=dist/edgepm_${version}_${other}.deb
if [[ ! -f "$cur_deb" || ! -f "$other_deb" ]]; then
  step "building $version ($host, $other) into $work (no make dist output for it)"
  scripts/dist.sh -o "$work/cur" "$host" "$other" >"$work/dist-cur.log" 2>&1 || { cat "$work/dist-cur.log"; fail "dist $version"; }
  cur_deb=$work/cur/edgepm_${version}_${host}.deb
  other_deb=$work/cur/edgepm_${version}_${other}.deb
else
  step "using $cur_deb and $other_deb"
fi
step "building $prev ($host) into $work"
scripts/dist.sh -o "$work/prev" -v "$prev" "$host" >"$work/dist-prev.log" 2>&1 || { cat "$work/dist-prev.log"; fail "dist $prev"; }
prev_deb=$work/prev/edgepm_${prev}_${host}.deb

export DEBIAN_FRONTEND=noninteractive
dpkg -P edgepm >/dev/null 2>&1 || true
rm -rf /etc/edgepm /var/lib/edgepm /var/lib/private/edgepm

# 1. install the previous version, as on a machine without Mosquitto
[[ $confd_was == yes ]] && mv "$confd" "$work/conf.d"
step "dpkg -i $(basename "$prev_deb") (no $confd: Mosquitto not installed)"
dpkg -i "$prev_deb" >/dev/null
[[ ! -e $confd ]] || fail "the package created $confd on a machine without Mosquitto"
[[ -f /usr/share/edgepm/mosquitto/edgepm.conf ]] || fail "the Mosquitto drop-in is not in /usr/share/edgepm/mosquitto"
unit=/usr/lib/systemd/system/edgepm.service
for f in /usr/bin/edgepm /usr/lib/edgepm/libonnxruntime.so.1 "$unit" /etc/edgepm/edgepm.yaml /etc/edgepm/edgepm.env \
  /usr/share/doc/edgepm/copyright /usr/share/doc/edgepm/licenses/onnxruntime/LICENSE; do
  [[ -e "$f" ]] || fail "$f not installed"
done
[[ $(stat -c %a /etc/edgepm/edgepm.env) == 600 ]] || fail "/etc/edgepm/edgepm.env is not mode 0600"
dpkg-query -W -f '${Conffiles}\n' edgepm | grep -q '/etc/edgepm/edgepm.yaml' || fail "edgepm.yaml is not a conffile"
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$unit")
[[ "$exec_start" == /usr/bin/edgepm ]] || fail "ExecStart runs $exec_start, the package installs /usr/bin/edgepm"
for doc in $(sed -n 's/^Documentation=//p' "$unit"); do
  [[ -f "${doc#file://}" ]] || fail "Documentation=$doc is not installed"
done
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $out"
[[ -z "$out" ]] || fail "systemd-analyze verify $unit warns: $out"
step "systemd-analyze verify $unit: clean"
/usr/bin/edgepm version | grep -q "edgepm $prev " || fail "edgepm version: $(/usr/bin/edgepm version)"
/usr/bin/edgepm config check -q --config /etc/edgepm/edgepm.yaml || fail "config check of the installed example config"
step "edgepm config check on the installed example config: valid"

# 2. the other architecture's package is refused
step "dpkg -i $(basename "$other_deb") (must be refused)"
if out=$(dpkg -i "$other_deb" 2>&1); then fail "dpkg installed the $other package on $host"; fi
grep -q "architecture" <<<"$out" || fail "dpkg refused the $other package, but not for its architecture: $out"
dpkg-query -W -f '${Version} ${Architecture}' edgepm | grep -q "^$prev $host$" || fail "the refused install changed the installed package"

# 3. edits and data: the installed binary writes a buffer in /var/lib/edgepm
sed -i -E 's/^#? *gateway_id: .*/gateway_id: gw-test-package/' /etc/edgepm/edgepm.yaml
echo "EDGEPM_LOG_LEVEL=debug" >> /etc/edgepm/edgepm.env
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 19599)
mkdir -p /var/lib/edgepm
EDGEPM_HTTP_LISTEN=127.0.0.1:$port EDGEPM_KAFKA_BROKERS=127.0.0.1:1 EDGEPM_MQTT_BROKER=tcp://127.0.0.1:1 \
  /usr/bin/edgepm run --config /etc/edgepm/edgepm.yaml >"$work/run.log" 2>&1 &
runpid=$!
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$runpid" 2>/dev/null || { cat "$work/run.log"; fail "edgepm run exited"; }
  sleep 0.2
done
kill -TERM "$runpid"; wait "$runpid" || true; runpid=""
buffer=$(find /var/lib/edgepm -type f | head -1)
[[ -n "$buffer" ]] || { cat "$work/run.log"; fail "edgepm run left no buffer in /var/lib/edgepm"; }
/usr/bin/edgepm buffer inspect --data-dir /var/lib/edgepm >/dev/null || fail "buffer inspect before the upgrade"
/usr/bin/edgepm buffer export --data-dir /var/lib/edgepm --stream events >"$work/events-before" || fail "buffer export before the upgrade"
grep -q . "$work/events-before" || fail "the buffer holds no events to carry over the upgrade"
echo keep > /var/lib/edgepm/operator-note
sums_before=$(cd /var/lib/edgepm && find . -type f -exec sha256sum {} + | sort)
step "data: $(echo "$sums_before" | wc -l) files in /var/lib/edgepm; config edited"

# 4. upgrade, Mosquitto now present
if [[ -d "$work/conf.d" ]]; then mv "$work/conf.d" "$confd"; else mkdir -p "$confd"; fi
step "dpkg -i $(basename "$cur_deb") (upgrade from $prev; $confd present)"
dpkg -i "$cur_deb" >/dev/null </dev/null
cmp -s /usr/share/edgepm/mosquitto/edgepm.conf "$confd/edgepm.conf" || fail "the upgrade did not install the Mosquitto drop-in into $confd"
echo "# the administrator's own limits" > "$confd/edgepm.conf"
dpkg -i "$cur_deb" >/dev/null </dev/null
grep -qx "# the administrator's own limits" "$confd/edgepm.conf" || fail "a reinstall overwrote the administrator's $confd/edgepm.conf"
rm -f "$confd/edgepm.conf"
step "Mosquitto drop-in: not written without Mosquitto, installed with it, an administrator's file kept"
dpkg-query -W -f '${Version}' edgepm | grep -qx "$version" || fail "upgrade did not install $version"
/usr/bin/edgepm version | grep -q "edgepm $version " || fail "edgepm version after upgrade: $(/usr/bin/edgepm version)"
grep -q '^gateway_id: gw-test-package' /etc/edgepm/edgepm.yaml || fail "upgrade lost the edit of /etc/edgepm/edgepm.yaml"
grep -q '^EDGEPM_LOG_LEVEL=debug' /etc/edgepm/edgepm.env || fail "upgrade lost the edit of /etc/edgepm/edgepm.env"
[[ ! -e /etc/edgepm/edgepm.yaml.dpkg-new && ! -e /etc/edgepm/edgepm.yaml.dpkg-old ]] || fail "dpkg left .dpkg-new/.dpkg-old"
[[ "$(cd /var/lib/edgepm && find . -type f -exec sha256sum {} + | sort)" == "$sums_before" ]] || fail "upgrade changed /var/lib/edgepm"
/usr/bin/edgepm buffer inspect --data-dir /var/lib/edgepm >/dev/null || fail "buffer inspect after the upgrade"
/usr/bin/edgepm buffer export --data-dir /var/lib/edgepm --stream events >"$work/events-after" || fail "buffer export after the upgrade"
cmp -s "$work/events-before" "$work/events-after" || fail "the new binary reads the buffer differently: $(diff "$work/events-before" "$work/events-after")"
step "upgrade kept the config edits and the buffer (new binary reads it)"

# 5. a config that does not validate fails ExecStartPre with the config error
cp /etc/edgepm/edgepm.yaml "$work/good.yaml"
sed -i 's/^  max_bytes: /  max_byts: /' /etc/edgepm/edgepm.yaml
grep -q '^  max_byts: ' /etc/edgepm/edgepm.yaml || fail "could not break the config (no buffer.max_bytes line)"
pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
[[ -n "$pre" ]] || fail "the unit has no ExecStartPre"
if out=$($pre 2>&1); then fail "ExecStartPre ($pre) passed a config that does not validate"; fi
grep -q "max_byts" <<<"$out" || fail "ExecStartPre failed without naming the bad key: $out"
step "ExecStartPre with a bad config: exits non-zero with: $out"
grep -q '^StartLimitBurst=' "$unit" && grep -q '^StartLimitIntervalSec=' "$unit" || fail "the unit has no start limit: a failing ExecStartPre would restart forever"
if [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  if systemctl start edgepm.service; then fail "systemctl start succeeded with a bad config"; fi
  sleep 8
  state=$(systemctl show -p ActiveState --value edgepm.service)
  [[ "$state" == failed ]] || fail "after a bad config the unit is $state, not failed (restart loop?)"
  journalctl -u edgepm.service --no-pager | grep -q max_byts || fail "the config error is not in the journal"
  systemctl reset-failed edgepm.service
  step "systemctl start with a bad config: failed, error in the journal, no restart loop"
else
  step "systemd is not running here (PID 1 is $(ps -p 1 -o comm=)): systemctl start not tested"
fi
cp "$work/good.yaml" /etc/edgepm/edgepm.yaml

# 6. remove keeps config and data; purge removes them
step "dpkg -r edgepm"
dpkg -r edgepm >/dev/null
[[ ! -e /usr/bin/edgepm && ! -e /usr/lib/edgepm/libonnxruntime.so.1 && ! -e "$unit" ]] || fail "dpkg -r left files of the package"
[[ -f /etc/edgepm/edgepm.yaml && -f /etc/edgepm/edgepm.env ]] || fail "dpkg -r removed the config"
grep -q '^gateway_id: gw-test-package' /etc/edgepm/edgepm.yaml || fail "dpkg -r changed the config"
[[ "$(cd /var/lib/edgepm && find . -type f -exec sha256sum {} + | sort)" == "$sums_before" ]] || fail "dpkg -r changed /var/lib/edgepm"
step "dpkg -P edgepm"
dpkg -P edgepm >/dev/null
[[ ! -e /etc/edgepm ]] || fail "dpkg -P left /etc/edgepm"
[[ ! -e /var/lib/edgepm ]] || fail "dpkg -P left /var/lib/edgepm"
dpkg-query -W edgepm >/dev/null 2>&1 && fail "dpkg still knows edgepm after purge"
step "PASS: install, architecture check, upgrade, bad config, remove, purge"
