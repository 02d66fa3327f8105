#!/usr/bin/env bash
# toolchain/swift-build-app.sh [swift build arguments...]: builds the SwiftPM package in
# the current folder, an app that depends on this package's EmbeddedHost, with libpython
# linked in as `make build` links the host (toolchain/libpython.sh: Debian's static,
# PGO-built libpython; the shared libpython3.X.so runs Python ~10 % slower). A plain
# `swift build` works too, on the shared library: the sidecar then logs a warning at start.
#
# Then refuses an executable that still needs libpython3.X.so (a swift command without
# these flags relinked it). PYTHON picks the interpreter (default /usr/bin/python3.11);
# CAGENT_LIBPYTHON where the prepared libpython goes (default <this package>/.build-python).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=${PYTHON:-/usr/bin/python3.11}
libpython=${CAGENT_LIBPYTHON:-$root/.build-python}

"$here/libpython.sh" "$libpython" "$python" >&2
export PKG_CONFIG_PATH="$libpython/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# shellcheck disable=SC2046 # the flags are words
swift build "$@" $(cat "$libpython/link-flags")

bin=$(swift build "$@" --show-bin-path)
for executable in "$bin"/*; do
    [ -f "$executable" ] && [ -x "$executable" ] || continue
    if readelf -d "$executable" 2>/dev/null | grep -q 'NEEDED.*libpython'; then
        echo "swift-build-app: $executable needs libpython's shared library; expected the static link" >&2
        exit 1
    fi
done
