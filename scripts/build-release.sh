#!/usr/bin/env bash
# Builds lazycas and its helpers (lazycas-mount, lazycas-download) for use: release, with every
# function in a section of its own (Swift and C), so that the linker lays the mount daemon's
# code out by linker/lazycas-mount.order — the functions a mount runs packed together, the rest
# after them — and a mount keeps about 8 MB less of its code in memory. (A plain
# `swift build -c release` works too; its daemon's code stays in one piece per source file.)
# The build has a folder of its own (.build/ordered, or $SCRATCH): Swift's driver does
# not recompile a module when only a frontend flag changed, so a build dir that once held a plain
# release build would keep its objects. MOUNT_LINK_MAP=FILE also writes the daemon's link map
# (where each input section went; scripts/order-mount-daemon.sh reads it). Prints the folder the
# binaries are in.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
flags=(-c release -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
       --scratch-path "${SCRATCH:-.build/ordered}")
bin="$(swift build "${flags[@]}" --show-bin-path)"
for product in lazycas lazycas-download lazycas-mount; do
  extra=()
  if [ "$product" = lazycas-mount ] && [ -n "${MOUNT_LINK_MAP:-}" ]; then
    extra=(-Xlinker "-Map=$MOUNT_LINK_MAP")
    rm -f "$bin/lazycas-mount"   # the map is written only by a link, which an unchanged build skips
  fi
  swift build "${flags[@]}" "${extra[@]}" --product "$product" 2>&1 | tail -1 >&2
done
echo "$bin"
