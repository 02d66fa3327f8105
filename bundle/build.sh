#!/usr/bin/env bash
# make bundle: the release host with libpython linked in statically, then
# dist/cagent-sidecar/ and dist/cagent-sidecar.run (bundle/make_bundle.py).
#
# Static libpython: the single file must start before its payload is unpacked, so the
# executable cannot need libpython3.11.so at load time. It is linked as every host is
# (toolchain/libpython.sh: Debian's PGO-built libpython3.11.a as one object,
# the Py* API exported, -no-pie). The Swift runtime and FoundationEssentials are linked
# statically too (--static-swift-stdlib): the executable needs only glibc, libstdc++,
# libgcc_s, libz, libexpat and libzstd from the machine. Never Foundation itself: its ICU
# data was 30 MB of the executable (docs/shipping.md); the build fails if it comes back.
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

echo "bundle: swift build -c release --static-swift-stdlib --scratch-path $scratch"
set +e
PKG_CONFIG_PATH="$static/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
    swift build --scratch-path "$scratch" -c release --static-swift-stdlib --product cagent-sidecar \
    $(cat "$static/link-flags") \
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
# Foundation (not FoundationEssentials) carries ICU's data; a stray `import Foundation`
# in what the host links brings it back.
if grep -c -a -e "_FoundationICU" -e "FoundationInternationalization" "$executable" >/dev/null; then
    echo "bundle: $executable links Foundation's ICU (an \`import Foundation\` in EmbeddedHost, Bridge, CagentAPI or cagent-sidecar?)" >&2
    exit 1
fi
echo "bundle: release build done in ${SECONDS} s: $executable $(du -h "$executable" | cut -f1) (unstripped; no ICU)"

# The single file's loader: plain C, no Swift runtime (bundle/loader/cagent-loader.c).
loader="$scratch/cagent-loader"
# The Swift toolchain's own clang (there wherever swift is; CC=... to change it).
${CC:-$(dirname "$(command -v swift)")/clang} -O2 -Wall -Wextra -Werror -s -o "$loader" bundle/loader/cagent-loader.c -lzstd
echo "bundle: loader $loader $(du -h "$loader" | cut -f1)"

"$python" bundle/make_bundle.py --executable "$executable" --loader "$loader" --project "$project" --dist "$dist"
