#!/usr/bin/env bash
# make bundle: the release host with libpython linked in statically, then
# dist/cagent-sidecar/ and dist/cagent-sidecar.run (bundle/make_bundle.py).
#
# Static libpython: the single file must start before its payload is unpacked, so the
# executable cannot need libpython3.11.so at load time. It is linked as every host is
# (toolchain/libpython.sh: Debian's PGO-built libpython3.11.a as one object,
# the Py* API exported, -no-pie). The Swift runtime and FoundationEssentials are linked
# statically too (--static-swift-stdlib), and so is libstdc++ (the Swift runtime's C++):
# the executable needs only glibc, libgcc_s, libz, libexpat and libzstd from the machine.
# Never Foundation itself: its ICU data was 30 MB of the executable (docs/shipping.md);
# the build fails if it comes back.
#
# Code layout: linked by lld with bundle/hot-functions.txt as its symbol order and every
# Swift module built with -function-sections, so the code a start and an idle service run
# sits together at the front and the rest is never mapped. The kernel maps a cached
# executable in whole large folios (up to 2 MB), so scattered hot code made nearly all
# 14.5 MB of code resident (docs/shipping.md). `make bundle-profile` refreshes the list.
#
# Environment: BUNDLE_SCRATCH (default .build-bundle), BUNDLE_DIST (default dist),
# BUNDLE_PYTHON (default .venv/bin/python, made by `make setup` from /usr/bin/python3.11),
# LIBPYTHON (toolchain/libpython.sh's folder; default $BUNDLE_SCRATCH/static-python).
set -euo pipefail

cd "$(dirname "$0")/.."
project=$PWD
scratch=${BUNDLE_SCRATCH:-.build-bundle}
dist=${BUNDLE_DIST:-dist}
python=${BUNDLE_PYTHON:-.venv/bin/python}
SECONDS=0

[ -x "$python" ] || { echo "bundle: $python is missing; run make setup" >&2; exit 1; }
# The link prepared by `make libpython` when there is one (LIBPYTHON), else our own.
static=${LIBPYTHON:-$project/$scratch/static-python}
toolchain/libpython.sh "$static" "$python"

# The Swift toolchain's own clang (there wherever swift is; CC=... to change it) builds
# the loader and finds libstdc++.a, which goes first on -L in a folder of its own: the
# Swift driver asks for -lstdc++, which would otherwise find the shared library.
clang=${CC:-$(dirname "$(command -v swift)")/clang}
libstdcxx=$("$clang" -print-file-name=libstdc++.a)
[ -f "$libstdcxx" ] || { echo "bundle: no libstdc++.a for $clang (Debian: apt-get install libstdc++-12-dev)" >&2; exit 1; }
mkdir -p "$scratch/static-libstdcxx"
ln -sf "$libstdcxx" "$scratch/static-libstdcxx/libstdc++.a"
hot=$project/bundle/hot-functions.txt
compile=(-Xswiftc -Xfrontend -Xswiftc -function-sections)
link=(-Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
    -Xlinker "--symbol-ordering-file=$hot" -Xlinker --no-warn-symbol-ordering
    -Xlinker "-Map=$(cd "$scratch" && pwd)/cagent-sidecar.map"
    -Xlinker "-L$(cd "$scratch/static-libstdcxx" && pwd)")
# SwiftPM keeps objects compiled without -function-sections (it relinks when link flags
# change, but does not recompile for a frontend flag): a build whose compile flags differ
# from the last one's starts its release folder over.
stamp=$scratch/compile-flags
if [ "$(cat "$stamp" 2>/dev/null)" != "${compile[*]}" ]; then
    echo "bundle: compile flags changed; rebuilding $scratch's release objects"
    rm -rf "$scratch"/*-linux-gnu/release
fi
# Nor does it relink when only the list changed.
if [ "$hot" -nt "$scratch/release/cagent-sidecar" ]; then rm -f "$scratch/release/cagent-sidecar"; fi

echo "bundle: swift build -c release --static-swift-stdlib --scratch-path $scratch (lld, hot code first)"
set +e
PKG_CONFIG_PATH="$static/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
    swift build --scratch-path "$scratch" -c release --static-swift-stdlib --product cagent-sidecar \
    $(cat "$static/link-flags") "${compile[@]}" "${link[@]}" \
    2>&1 | grep -a --line-buffered -v -e "is dangerous, better use" -e "^\[[0-9]*/[0-9]*\] Compiling"
status=${PIPESTATUS[0]}
set -e
executable="$scratch/release/cagent-sidecar"
[ "$status" = 0 ] && [ -x "$executable" ] || { echo "bundle: the release build failed" >&2; exit 1; }
echo "${compile[*]}" >"$stamp"
# (no `| grep -q` under pipefail: grep leaving early fails the pipeline with SIGPIPE)
if readelf -d "$executable" | grep "NEEDED" | grep "libpython" >&2; then
    echo "bundle: $executable still needs a shared libpython" >&2
    exit 1
fi
if [ "$(nm -D --defined-only "$executable" | grep -c " PyContextVar_Type$")" != 1 ]; then
    echo "bundle: $executable does not export the Py* API (extension modules would not load)" >&2
    exit 1
fi
# Foundation (not FoundationEssentials) carries ICU's data; a stray `import Foundation`
# in what the host links brings it back.
if grep -c -a -e "_FoundationICU" -e "FoundationInternationalization" "$executable" >/dev/null; then
    echo "bundle: $executable links Foundation's ICU (an \`import Foundation\` in EmbeddedHost, Bridge, CagentAPI or cagent-sidecar?)" >&2
    exit 1
fi
if readelf -d "$executable" | grep "NEEDED" | grep "libstdc++" >&2; then
    echo "bundle: $executable still needs the shared libstdc++" >&2
    exit 1
fi
# A stale list still links, with less code together: say how much of it still names code,
# and refuse one that mostly does not.
listed=$(grep -v '^#' "$hot" | sort -u | wc -l)
found=$(comm -12 <(grep -v '^#' "$hot" | sort -u) <(nm --defined-only "$executable" | awk '{print $3}' | sort -u) | wc -l)
echo "bundle: hot code first: $found of $listed functions in bundle/hot-functions.txt found"
if [ $((found * 2)) -lt "$listed" ]; then
    echo "bundle: bundle/hot-functions.txt is stale (under half of it names code in the executable); run make bundle-profile" >&2
    exit 1
fi
echo "bundle: release build done in ${SECONDS} s: $executable $(du -h "$executable" | cut -f1) (unstripped; no ICU)"

# The single file's loader: plain C, no Swift runtime (bundle/loader/cagent-loader.c).
loader="$scratch/cagent-loader"
"$clang" -O2 -Wall -Wextra -Werror -s -o "$loader" bundle/loader/cagent-loader.c -lzstd
echo "bundle: loader $loader $(du -h "$loader" | cut -f1)"

"$python" bundle/make_bundle.py --executable "$executable" --loader "$loader" --project "$project" --dist "$dist"
