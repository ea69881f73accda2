#!/usr/bin/env bash
# Builds the release packages: for each architecture a Debian package
# edgepm_<version>_<arch>.deb (dpkg-deb) and a tarball
# edgepm_<version>_linux_<arch>.tar.gz (GNU tar) holding the same files,
# then SHA256SUMS over everything in the output directory.
#
# Usage: scripts/dist.sh [-o OUT_DIR] [-v VERSION] [ARCH...]
#   ARCH: amd64 and/or arm64 (default: both). Default OUT_DIR: dist/.
#   Default VERSION: scripts/pkg-version.sh.
# Needs: Go, npm (for ONNX Runtime), dpkg-deb; for arm64 on an amd64 machine
# the cgo cross compiler, which scripts/install-cross.sh installs. Fails on a
# missing compiler or an ONNX Runtime library whose sha256 does not match.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/dist
version=""
while getopts "o:v:" opt; do
  case $opt in
    o) out=$OPTARG ;;
    v) version=$OPTARG ;;
    *) echo "usage: scripts/dist.sh [-o OUT_DIR] [-v VERSION] [amd64] [arm64]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
arches=("$@")
[[ ${#arches[@]} -gt 0 ]] || arches=(amd64 arm64)
version=${version:-$("$root/scripts/pkg-version.sh")}
if [[ ! "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
  echo "dist: version '$version' is not a Debian version (digits first; letters, digits, . + ~)" >&2; exit 1
fi
maintainer=${DEB_MAINTAINER:-"edgepm maintainers <maintainers@edgepm.invalid>"}
GO=${GO:-go}
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# cc_for ARCH: the C compiler cgo uses for ARCH on this machine.
cc_for() {
  local host; host=$($GO env GOHOSTARCH)
  if [[ "$1" == "$host" ]]; then echo "${CC:-gcc}"; return; fi
  case "$1" in
    arm64) echo aarch64-linux-gnu-gcc ;;
    amd64) echo x86_64-linux-gnu-gcc ;;
  esac
}

# glibc_need FILE: the highest GLIBC_x.y symbol version FILE needs.
glibc_need() {
  readelf -W --dyn-syms "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1
}

# go_licenses ARCH DIR: copies the license files of every Go module linked
# into cmd/edgepm for ARCH to DIR/<module path>/, and lists them.
go_licenses() {
  local arch=$1 dir=$2 mod ver mdir f
  while read -r mod ver mdir; do
    [[ -n "$mdir" ]] || { echo "dist: module $mod has no source directory for its license" >&2; exit 1; }
    mkdir -p "$dir/$mod"
    for f in "$mdir"/LICENSE* "$mdir"/LICENCE* "$mdir"/COPYING* "$mdir"/NOTICE* "$mdir"/AUTHORS "$mdir"/PATENTS; do
      if [[ -f "$f" ]]; then install -m 0644 "$f" "$dir/$mod/"; fi
    done
    if [[ -z "$(ls -A "$dir/$mod")" ]]; then
      echo "dist: Go module $mod $ver carries no license file" >&2; exit 1
    fi
    echo "  $mod $ver"
  done < <(cd "$root" && GOOS=linux GOARCH=$arch CGO_ENABLED=1 $GO list -deps \
    -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' ./cmd/edgepm | sort -u)
}

# stage ARCH DIR: the installed file tree for ARCH under DIR.
stage() {
  local arch=$1 dir=$2 cc npm_arch doc
  cc=$(cc_for "$arch")
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "dist: C compiler $cc for linux/$arch not found (cgo needs it; scripts/install-cross.sh installs it)" >&2; exit 1
  fi
  echo "dist: building edgepm $version for linux/$arch with CC=$cc"
  (cd "$root" && GOOS=linux GOARCH=$arch CGO_ENABLED=1 CC=$cc $GO build -trimpath -buildvcs=false \
    -ldflags "-s -w -X github.com/edgepm/edgepm/edge.Version=$version" -o "$work/$arch/edgepm" ./cmd/edgepm)
  npm_arch=$arch; [[ $arch == amd64 ]] && npm_arch=x64
  # Not ONNXRUNTIME_LIB: the library must be the pinned one for ARCH.
  env -u ONNXRUNTIME_LIB "$root/scripts/fetch-onnxruntime.sh" "$root/.local/ort/linux-$arch" "$npm_arch"

  install -D -m 0755 "$work/$arch/edgepm" "$dir/usr/bin/edgepm"
  install -D -m 0644 "$root/.local/ort/linux-$arch/libonnxruntime.so.1" "$dir/usr/lib/edgepm/libonnxruntime.so.1"
  install -D -m 0644 "$root/deploy/systemd/edgepm.service" "$dir/usr/lib/systemd/system/edgepm.service"
  install -D -m 0644 "$root/deploy/edgepm.yaml" "$dir/etc/edgepm/edgepm.yaml"
  install -D -m 0600 "$root/deploy/edgepm.env" "$dir/etc/edgepm/edgepm.env"
  # Not in /etc/mosquitto: that is Mosquitto's package's folder. postinst
  # copies it there where Mosquitto is installed (docs/operations.md).
  install -D -m 0644 "$root/deploy/mosquitto/edgepm.conf" "$dir/usr/share/edgepm/mosquitto/edgepm.conf"
  doc=$dir/usr/share/doc/edgepm
  install -D -m 0644 -t "$doc" "$root/README.md" "$root/docs/operations.md" "$root/docs/configuration.md" \
    "$root/docs/architecture.md" "$root/docs/models.md"
  install -D -m 0644 -t "$doc/formats" "$root"/docs/formats/*.md
  install -D -m 0644 -t "$doc/licenses/onnxruntime" "$root"/deploy/licenses/onnxruntime/*
  install -D -m 0644 -t "$doc/licenses/uplot" "$root"/edge/ui/vendor/uplot/LICENSE "$root"/edge/ui/vendor/uplot/README.md
  echo "dist: license files of the Go modules in edgepm (linux/$arch):"
  local mods; mods=$(go_licenses "$arch" "$doc/licenses/go")
  echo "$mods"
  write_copyright "$doc/copyright" "$mods"
  printf 'edgepm (%s) unstable; urgency=medium\n\n  * Release package built from the edgepm source at this version.\n\n -- %s  %s\n' \
    "$version" "$maintainer" "$(date -u -R -d "@$epoch")" | gzip -9n > "$doc/changelog.Debian.gz"
  chmod 0644 "$doc/changelog.Debian.gz"
  find "$dir" -exec touch -h -d "@$epoch" {} +
}

write_copyright() {
  cat > "$1" <<COPYRIGHT
edgepm $version

edgepm: the edgepm source repository states no license of its own.

Bundled third-party software, each with its license files under
/usr/share/doc/edgepm/licenses/:

ONNX Runtime 1.24.3, /usr/lib/edgepm/libonnxruntime.so.1 (MIT):
  licenses/onnxruntime/ (see its README for the third-party notices)

uPlot 1.6.32 (MIT), the status page's charts, embedded in /usr/bin/edgepm:
  licenses/uplot/

Go modules statically linked into /usr/bin/edgepm (module, version):
$2
  licenses/go/<module>/
COPYRIGHT
  chmod 0644 "$1"
}

for arch in "${arches[@]}"; do
  case $arch in amd64|arm64) ;; armv7|arm|armhf)
    echo "dist: linux/$arch is not supported: onnxruntime-node@1.24.3 ships no 32-bit ARM ONNX Runtime" >&2; exit 1 ;;
  *) echo "dist: unknown architecture $arch (amd64, arm64)" >&2; exit 1 ;; esac
  tree=$work/$arch/root
  stage "$arch" "$tree"

  glibc=$(glibc_need "$tree/usr/bin/edgepm")
  ort_glibc=$(glibc_need "$tree/usr/lib/edgepm/libonnxruntime.so.1")
  glibc=$(printf '%s\n%s\n' "$glibc" "$ort_glibc" | sort -V | tail -1)
  deb=$work/$arch/deb
  cp -a "$tree" "$deb"
  mkdir -p "$deb/DEBIAN"
  sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@SIZE@|$(du -sk --apparent-size "$tree" | cut -f1)|" \
    -e "s|@DEPENDS@|libc6 (>= $glibc), libstdc++6 (>= 6), libgcc-s1|" \
    "$root/deploy/debian/control.in" > "$deb/DEBIAN/control"
  install -m 0644 "$root/deploy/debian/conffiles" "$deb/DEBIAN/conffiles"
  install -m 0755 "$root"/deploy/debian/{postinst,prerm,postrm} "$deb/DEBIAN/"
  dpkg-deb --root-owner-group -Zxz --build "$deb" "$out/edgepm_${version}_${arch}.deb" >/dev/null

  tgz=$out/edgepm_${version}_linux_${arch}.tar.gz
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    --transform "s|^\.|edgepm_${version}_linux_${arch}|" -C "$tree" -cf - . | gzip -9n > "$tgz"
  echo "dist: wrote $(basename "$out")/edgepm_${version}_${arch}.deb and $(basename "$tgz") (needs glibc >= $glibc)"
done

(cd "$out" && sha256sum -- *.deb *.tar.gz > SHA256SUMS)
echo "dist: $(basename "$out")/SHA256SUMS:"
cat "$out/SHA256SUMS"
