#!/usr/bin/env bash
# Makes what this project's tar sources download, as upstream releases would be: the sysroot
# tarball (from the one scripts/setup.sh --with-buildstream builds), hello-1.0.tar.gz (an
# autotools release: configure and Makefile.in generated ahead, newer than their sources) and
# calc-1.0.tar.gz, in upstream/; then their refs in project.refs (ref-storage: project.refs).
# Deterministic: the same inputs give the same tarballs and refs.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="${LAZYCAS_TOOLS:-$HERE/../../.tools}"
[ -f "$TOOLS/sysroot.tar" ] || { echo "prepare: $TOOLS/sysroot.tar is missing: run scripts/setup.sh --with-buildstream" >&2; exit 1; }
command -v autoreconf >/dev/null || { echo "prepare: autoreconf is missing: run scripts/setup.sh --with-buildstream" >&2; exit 1; }

out="$HERE/upstream"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
tarball() {  # NAME DIR-IN-WORK
  tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work" -cf - "$2" | gzip -n > "$out/$1.new"
  mv "$out/$1.new" "$out/$1"
}

cp -a "$HERE/upstream-src/hello-1.0" "$work/"
(cd "$work/hello-1.0" && autoreconf -fi >/dev/null 2>&1 && rm -rf autom4te.cache)
# A release's order: sources, then aclocal.m4, then what is generated from both.
touch -d '2020-01-03 00:00:00Z' "$work/hello-1.0" "$work"/hello-1.0/*
touch -d '2020-01-01 00:00:00Z' "$work"/hello-1.0/{configure.ac,Makefile.am,hello.c}
touch -d '2020-01-02 00:00:00Z' "$work/hello-1.0/aclocal.m4"
tarball hello-1.0.tar.gz hello-1.0

cp -a "$HERE/upstream-src/calc-1.0" "$work/"
find "$work/calc-1.0" -exec touch -d '2020-01-01 00:00:00Z' {} +
tarball calc-1.0.tar.gz calc-1.0

if [ ! -f "$out/sysroot.tar" ] || [ "$TOOLS/sysroot.tar" -nt "$out/sysroot.tar" ]; then
  ln -f "$TOOLS/sysroot.tar" "$out/sysroot.tar" 2>/dev/null || cp "$TOOLS/sysroot.tar" "$out/sysroot.tar"
fi

ref() { sha256sum "$out/$1" | cut -c1-64; }
cat > "$HERE/project.refs" <<REFS
# Written by prepare.sh: the sha256 of each tarball in upstream/.
projects:
  image:
    sysroot.bst:
    - ref: $(ref sysroot.tar)
    hello.bst:
    - ref: $(ref hello-1.0.tar.gz)
    calc.bst:
    - ref: $(ref calc-1.0.tar.gz)
REFS
echo "prepare: upstream/ and project.refs are ready"
