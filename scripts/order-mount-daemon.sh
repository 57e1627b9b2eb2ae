#!/usr/bin/env bash
# Regenerates linker/lazycas-mount.order: the input sections (one per function) that the linker
# puts first in the mount daemon's code, so that what a mount runs is packed together and the
# kernel, which maps an executable's pages in large blocks around each page touched, maps little
# else. The list is recorded, not guessed: the daemon runs under callgrind (valgrind) while a
# mount of a generated tree behind buildbox-casd is listed and read cold (serially), then mounted
# again over the filled cache and read by 8 readers at once; every function it ran is looked up
# in the link map to the section that holds it.
# Run it after changing code a mount runs: a stale list costs memory (a function it misses stays
# where its source file put it), never correctness.
#   scripts/order-mount-daemon.sh [FILES]   (default 2,000 files plus the large ones)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES="${1:-2000}"
command -v valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind; }
MAP="$ROOT/.build/profile/lazycas-mount.map"
PROFILE_BIN="$(SCRATCH="$ROOT/.build/profile" MOUNT_LINK_MAP="$MAP" "$ROOT/scripts/build-release.sh")"
LAZYCAS_BIN="$PROFILE_BIN/lazycas"
source "$ROOT/scripts/bench/common.sh"

# lazycas starts the daemon found beside itself: here, a wrapper that runs it under callgrind
# (from a copy without DWARF, which valgrind 3.19 cannot read; the code is at the same addresses).
mkdir -p "$WORK/bin"
cp "$PROFILE_BIN/lazycas" "$WORK/bin/lazycas"
objcopy --strip-debug "$PROFILE_BIN/lazycas-mount" "$WORK/bin/lazycas-mount.profiled"
cat > "$WORK/bin/lazycas-mount" <<WRAP
#!/bin/sh
exec valgrind -q --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" --demangle=no \
  --dump-instr=no --collect-jumps=no "$WORK/bin/lazycas-mount.profiled" "\$@"
WRAP
chmod +x "$WORK/bin/lazycas-mount"

fresh_fs 4G
start_casd run/casd
REMOTE="grpc://127.0.0.1:$PORT"
make_tree "$WORK/run/src" "$FILES"
DIGEST=$("$LAZYCAS" cas put "$WORK/run/src" --remote "$REMOTE" --cache-dir "$WORK/run/uploader" 2>/dev/null)
MNT="$WORK/mnt-profile"
mkdir -p "$MNT"
# profile_mount READ: mounts the tree (cache $WORK/run/cache) under callgrind, runs READ on it,
# unmounts.
profile_mount() {
  "$WORK/bin/lazycas" mount "$DIGEST" "$MNT" --foreground --remote "$REMOTE" \
    --cache-dir "$WORK/run/cache" 2>>"$WORK/mount.log" &
  local pid=$!
  for _ in $(seq 1200); do [ -e "$MNT/large" ] && break; sleep 0.1; done
  [ -e "$MNT/large" ] || { cat "$WORK/mount.log" >&2; echo "the mount did not come up" >&2; exit 1; }
  eval "$1"
  fusermount3 -u "$MNT"
  wait "$pid"
}
echo "profiling a cold mount (listed, then read serially)…"
profile_mount 'find "$MNT" -ls >/dev/null; find "$MNT" -type f -print0 | xargs -0 cat >/dev/null'
echo "profiling a mount over the filled cache (8 parallel readers)…"
profile_mount 'find "$MNT" -type f -print0 | xargs -0 -P 8 -n 64 cat >/dev/null; head -c 1 "$MNT/probe" >/dev/null'

nm --defined-only "$WORK/bin/lazycas-mount.profiled" > "$WORK/symbols"
python3 - "$MAP" "$WORK/symbols" "$ROOT/linker/lazycas-mount.order" "$WORK"/callgrind.* <<'PY'
import bisect, re, sys
map_path, symbols_path, out_path, profiles = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
# Input sections of the daemon's code, from gold's map: " .text.NAME" then (on the same line or
# the next) "0xADDRESS 0xSIZE object".
sections, name = [], None
for line in open(map_path, errors="replace"):
    m = re.match(r"^ (\.text\S*)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s)?", line)
    if m:
        name = m.group(1)
        if m.group(2):
            sections.append((int(m.group(2), 16), int(m.group(3), 16), name)); name = None
        continue
    m = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+\S", line)
    if m and name:
        sections.append((int(m.group(1), 16), int(m.group(2), 16), name))
    name = None
sections.sort()
starts = [s[0] for s in sections]
def section_at(address):
    i = bisect.bisect_right(starts, address) - 1
    if i >= 0 and address < sections[i][0] + max(sections[i][1], 1):
        return sections[i][2]
addresses = {}
for line in open(symbols_path):
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tTwW":
        addresses.setdefault(parts[2], []).append(int(parts[0], 16))
# Every function callgrind saw run in the daemon's own binary ("fn=(id) name" lines after an
# "ob=" naming it; ids stand for names given once, in fn=/cfn=/ob=/cob= lines).
ran = set()
for path in profiles:
    names, objects, obj = {}, {}, None
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, key, value = m.groups()
        table = objects if kind.endswith("ob") else names
        if value:
            table[key] = value
        if kind == "ob":
            obj = objects.get(key, "")
        elif kind == "fn" and obj.endswith("/lazycas-mount.profiled"):
            ran.add(re.sub(r"'\d+$", "", names[key]))
hit, unnamed = set(), False
for fn in ran:
    for address in ([int(fn, 16)] if fn.startswith("0x") else addresses.get(fn, [])):
        section = section_at(address)
        if section is None or section == ".text":
            continue   # code of an object built without function sections: not movable
        if section.startswith(".text..L__unnamed"):
            unnamed = True   # compiler-made thunks: the names repeat in every object
        else:
            hit.add(section)
size = sum(s[1] for s in sections if s[2] in hit)
with open(out_path, "w") as out:
    out.write("# The mount daemon's functions that a mount runs, laid out together by the linker\n"
              "# (--section-ordering-file, Package.swift). Generated by scripts/order-mount-daemon.sh.\n")
    for section in sorted(hit):
        out.write(section + "\n")
    if unnamed:
        out.write(".text..L__unnamed_*\n")
print(f"{len(ran)} functions ran, in {len(hit)} sections ({size / 1e6:.2f} MB of "
      f"{sum(s[1] for s in sections) / 1e6:.1f} MB of code) -> {out_path}")
PY
