#!/usr/bin/env bash
# toolchain/libpython.sh OUT [PYTHON]: prepares OUT for linking the host with Debian's
# libpython3.X.a, the build behind /usr/bin/python3.X, instead of libpython3.X.so.
#
# Why: Debian ships CPython built twice. The static archive is compiled with profile-
# guided optimization (its objects carry .text.hot sections) and without -fPIC; the shared
# library is a plain -fPIC build. On the shared library the same Python code runs
# ~10 % slower and the service imports ~35 ms slower (docs/design.md, "Which CPython it links").
#
# What it writes (the Makefile passes it to every SwiftPM link and to cagent-python):
#   OUT/libpython3.X.o   the whole archive as one relocatable object (`ld -r
#                        --whole-archive`): extension modules need every Py* symbol, not
#                        only those the host references, and an archive's symbols would
#                        be hidden by --static-swift-stdlib's --exclude-libs ALL.
#   OUT/libpython3.X.a   an empty archive: SwiftPM's -lpython3.X resolves here.
#   OUT/pkgconfig/       python3-embed.pc pointing there; zlib.pc without a library
#                        folder (SwiftPM would put -L/usr/lib/<triple>, where the .so is,
#                        ahead of ours).
#   OUT/python-api.list  a dynamic list, every global Py* and _Py*: the symbols the executable exports
#                        (C extensions resolve the API from the executable, as they do from
#                        python3.X). Only those: -export-dynamic (which --static-swift-stdlib
#                        adds) would also export every Swift symbol of the host's own
#                        objects, for every extension module's lookups to search.
#   OUT/link-flags       the flags for `swift build`: the object, the list, and -no-pie
#                        (non-PIC code; Debian's python3.X is not a PIE either).
set -euo pipefail

out=${1:?usage: toolchain/libpython.sh OUT [PYTHON]}
python=${2:-/usr/bin/python3.11}
mkdir -p "$out/pkgconfig"
out=$(cd "$out" && pwd)

config() { "$python" -c "import sysconfig, sys; print(sysconfig.get_config_var(sys.argv[1]))" "$1"; }
version=$(config VERSION)
archive="$(config LIBPL)/$(config LIBRARY)"
[ -f "$archive" ] || { echo "libpython: $archive is missing (Debian's libpython$version-dev, from python3-dev, ships it)" >&2; exit 1; }
libs=$("$python" -c 'import sysconfig as s; print(" ".join(dict.fromkeys((s.get_config_var("MODLIBS") + " " + s.get_config_var("LIBS") + " " + s.get_config_var("SYSLIBS")).split())))')

object="$out/libpython$version.o"
# --unique keeps each member's .text, .text.hot and .text.unlikely a section of its own,
# so a link with a symbol order (bundle/build.sh) can put the hot ones first.
if [ ! -f "$object" ] || [ "$archive" -nt "$object" ] || [ "$0" -nt "$object" ]; then
    echo "libpython: $archive -> $object"
    ld -r --whole-archive --unique='.text*' "$archive" -o "$object.tmp"
    mv "$object.tmp" "$object"
fi
[ -f "$out/libpython$version.a" ] || ar rc "$out/libpython$version.a"

write() {  # only when changed: a new .pc file would make SwiftPM plan the build again
    if ! [ -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then printf '%s\n' "$2" > "$1"; fi
}
write "$out/pkgconfig/python3-embed.pc" "Name: Python
Description: CPython $version, Debian's static (PGO) build, linked into the host
Version: $version
Libs: -L$out -lpython$version $libs
Cflags: -I$(config INCLUDEPY)"
write "$out/pkgconfig/zlib.pc" "Name: zlib
Description: zlib without a library folder of its own
Version: $(pkg-config --modversion zlib)
Libs: -lz
Cflags:"
# Every Py*/_Py* symbol the archive defines with default visibility, by name: a pattern
# would also match libpython's hidden and local symbols, which the linker then warns it
# cannot export.
api=$(readelf -sW "$object" | awk '$5 != "LOCAL" && $6 == "DEFAULT" && $7 != "UND" && $8 ~ /^_?Py/ { printf "  %s;\n", $8 }' | sort -u)
write "$out/python-api.list" "{
$api
};"
write "$out/link-flags" "-Xlinker $object -Xlinker --no-export-dynamic -Xlinker --dynamic-list=$out/python-api.list -Xswiftc -Xclang-linker -Xswiftc -no-pie"
write "$out/cflags" "-I$(config INCLUDEPY)"
write "$out/libs" "$object -Wl,--dynamic-list=$out/python-api.list -no-pie $libs"
