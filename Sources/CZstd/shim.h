// libzstd, for the single-file bundle's payload: linked dynamically, libzstd.so.1 is on
// every glibc Linux the host targets (apt, rpm and systemd need it); docs/shipping.md
// says why zstd and why not static. No pkg-config: libzstd.pc adds -L for the system
// library folder, where the linker would then find libpython3.11.so before the static
// libpython the host links (toolchain/libpython.sh).
#include <zstd.h>
