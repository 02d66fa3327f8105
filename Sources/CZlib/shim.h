// zlib, for the single-file bundle's payload (libpython links libz already, so the
// host needs no library a Python host would not need anyway).
#include <zlib.h>
