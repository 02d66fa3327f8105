#!/usr/bin/env bash
# make bundle: the release host with libpython linked in statically, then
# dist/cagent-sidecar/ and dist/cagent-sidecar.run (bundle/make_bundle.py).
#
# Static libpython: the single file must start before its payload is unpacked, so the
# executable cannot need libpython3.11.so at load time. Debian's libpython3.11-pic.a
# (python3-dev), all of it (--whole-archive, here as one `ld -r` object) and
# -export-dynamic (C extension modules resolve the Py* API from the executable), as
# DESIGN.md measured. The Swift runtime and Foundation
# are linked statically too (--static-swift-stdlib): the executable needs only glibc,
# libstdc++, libgcc_s, libz and libexpat from the machine.
#
# SwiftPM takes libpython from `pkg-config python3-embed` (-L/usr/lib/... -lpython3.11,
# which would add libpython3.11.so); a python3-embed.pc of our own in a scratch folder
# points -lpython3.11 at an empty archive instead (and a zlib.pc of our own drops the
# system library folder zlib.pc would put first), and the real archive comes through
# -Xlinker as one object.
#
# Environment: BUNDLE_SCRATCH (default .build-bundle), BUNDLE_DIST (default dist),
# BUNDLE_PYTHON (default .venv/bin/python, made by `make setup` from /usr/bin/python3.11).
set -euo pipefail

cd "$(dirname "$0")/.."
project=$PWD
scratch=${BUNDLE_SCRATCH:-.build-bundle}
dist=${BUNDLE_DIST:-dist}
python=${BUNDLE_PYTHON:-.venv/bin/python}
SECONDS=0

[ -x "$python" ] || { echo "bundle: $python is missing; run make setup" >&2; exit 1; }
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
libpl=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBPL"))')
archive="$libpl/libpython$version-pic.a"
[ -f "$archive" ] || { echo "bundle: $archive is missing (Debian's python3-dev / libpython$version-dev ships it)" >&2; exit 1; }
libs=$("$python" -c 'import sysconfig as s; print(" ".join(dict.fromkeys((s.get_config_var("MODLIBS") + " " + s.get_config_var("LIBS") + " " + s.get_config_var("SYSLIBS")).split())))')

static="$project/$scratch/static-python"
mkdir -p "$static/pkgconfig"
# One relocatable object of the whole archive: --static-swift-stdlib links with
# --exclude-libs ALL, which would hide every symbol that comes from an archive, the Py*
# API included; an object file's symbols stay exported.
object="$static/libpython$version-pic.o"
if [ ! -f "$object" ] || [ "$archive" -nt "$object" ]; then
    ld -r --whole-archive "$archive" -o "$object.tmp" && mv "$object.tmp" "$object"
fi
rm -f "$static/libpython$version.a"
ar rc "$static/libpython$version.a"   # empty: -lpython3.11 resolves here, adding nothing
cat > "$static/pkgconfig/python3-embed.pc" <<EOF
Name: Python
Description: CPython $version linked statically (cagent-sidecar bundle)
Version: $version
Libs: -L$static -lpython$version $libs
Cflags: -I$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("INCLUDEPY"))')
EOF
# zlib.pc would add -L/usr/lib/x86_64-linux-gnu ahead of ours, where libpython3.11.so is.
cat > "$static/pkgconfig/zlib.pc" <<EOF
Name: zlib
Description: zlib without a library folder of its own (cagent-sidecar bundle)
Version: $(pkg-config --modversion zlib)
Libs: -lz
Cflags:
EOF

echo "bundle: swift build -c release --static-swift-stdlib --scratch-path $scratch (libpython from $archive)"
set +e
PKG_CONFIG_PATH="$static/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
    swift build --scratch-path "$scratch" -c release --static-swift-stdlib --product cagent-sidecar \
    -Xlinker "$object" -Xlinker -export-dynamic \
    2>&1 | grep -a --line-buffered -v -e "is dangerous, better use" -e "^\[[0-9]*/[0-9]*\] Compiling"
status=${PIPESTATUS[0]}
set -e
executable="$scratch/release/cagent-sidecar"
[ "$status" = 0 ] && [ -x "$executable" ] || { echo "bundle: the release build failed" >&2; exit 1; }
# (no `| grep -q` under pipefail: grep leaving early fails the pipeline with SIGPIPE)
if readelf -d "$executable" | grep "NEEDED" | grep "libpython" >&2; then
    echo "bundle: $executable still needs a shared libpython" >&2
    exit 1
fi
if [ "$(nm -D --defined-only "$executable" | grep -c " PyContextVar_Type$")" != 1 ]; then
    echo "bundle: $executable does not export the Py* API (extension modules would not load)" >&2
    exit 1
fi
echo "bundle: release build done in ${SECONDS} s"

"$python" bundle/make_bundle.py --executable "$executable" --project "$project" --dist "$dist"
