// The executable part of dist/cagent-sidecar.run: finds the host executable in the cache
// (unpacking it from the file the first time), then execs it. The host then unpacks the
// Python payload itself (Sources/SingleFile/OnefileBundle.swift), reading it
// from the .run file named by CAGENT_SINGLE_FILE.
//
// Why a loader: the kernel runs only an uncompressed ELF file, and the host is 23 MB of
// it; as zstd it is about 7 MB. This loader is a few KB of C with no Swift runtime
// (docs/shipping.md).
//
// File layout (little-endian):
//     loader | host executable (zstd) | loader trailer (64) | payload | payload trailer (64)
//     loader trailer  = "CAGENT-LOADER-01" (16) | offset u64 | length u64 | size u64 |
//                       first 16 bytes of the executable's SHA-256 (16) | zero (8)
//     payload trailer = "CAGENT-PAYLOAD-1" (16) | payload offset u64 | payload length u64 | SHA-256 (32)
// The loader trailer sits right before the payload, which the payload trailer locates.
//
// The executable's place: ${XDG_CACHE_HOME:-~/.cache}/cagent-sidecar-bin/<hash>; written
// as an unnamed file (O_TMPFILE) and linked into place when complete, so a killed launch
// leaves nothing and concurrent launches agree (one link wins, the others use it). A
// cached file of the wrong size is replaced. Where the cache cannot be written, the
// executable runs from memory (memfd) for that launch, with a warning.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define TRAILER 64

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "cagent-sidecar: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int read_at(int fd, void *buffer, size_t count, off_t offset) {
    size_t done = 0;
    while (done < count) {
        ssize_t got = pread(fd, (char *)buffer + done, count - done, offset + (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        done += (size_t)got;
    }
    return 0;
}

// Writes in pieces of 64 KiB: the page cache keeps a file in folios as large as the writes
// that made it (kernel 6.x), and a running executable maps whole folios around each page
// it touches. Written in one 23 MB write, the host kept 16.8 MB of its code resident; in
// 64 KiB writes (or 4 KiB, or copied by cp), 12.1 MB (docs/shipping.md).
#define WRITE_PIECE (64 * 1024)

static int write_all(int fd, const void *buffer, size_t count) {
    size_t done = 0;
    while (done < count) {
        size_t piece = count - done < WRITE_PIECE ? count - done : WRITE_PIECE;
        ssize_t put = write(fd, (const char *)buffer + done, piece);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return -1;
        done += (size_t)put;
    }
    return 0;
}

// mkdir -p, private where it creates (0700): what is missing of `path`.
static void make_folders(char *path) {
    for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    mkdir(path, 0700);  // (if this fails, so does creating the file in it, with the reason)
}

// The cache folder for executables, created if missing and possible; NULL when there is
// no home.
static char *cache_folder(void) {
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char *path = NULL;
    if (xdg && xdg[0] == '/') {
        if (asprintf(&path, "%s/cagent-sidecar-bin", xdg) < 0) return NULL;
    } else {
        if (!home || home[0] != '/') {
            struct passwd *entry = getpwuid(getuid());
            home = entry && entry->pw_dir && entry->pw_dir[0] == '/' ? entry->pw_dir : NULL;
        }
        if (!home) return NULL;
        if (asprintf(&path, "%s/.cache/cagent-sidecar-bin", home) < 0) return NULL;
    }
    make_folders(path);
    return path;
}

// The executable, decompressed into `fd` (a new file); 0 or -1 with a message in `why`.
static int unpack(int self, uint64_t offset, uint64_t length, uint64_t size, int fd, const char **why) {
    void *packed = malloc(length ? length : 1);
    void *plain = malloc(size ? size : 1);
    if (!packed || !plain) { *why = "out of memory"; return -1; }
    if (read_at(self, packed, length, (off_t)offset) != 0) { *why = "cannot read the executable from the file"; return -1; }
    size_t got = ZSTD_decompress(plain, size, packed, length);
    free(packed);
    if (ZSTD_isError(got) || got != size) { *why = "the bundled executable is damaged (it does not decompress to its size)"; return -1; }
    int status = write_all(fd, plain, size) == 0 && fchmod(fd, 0755) == 0 ? 0 : -1;
    free(plain);
    if (status != 0) *why = strerror(errno);
    return status;
}

int main(int argc, char **argv) {
    (void)argc;
    char self_path[4096];
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0) fail("cannot find this executable", "/proc/self/exe");
    self_path[n] = '\0';
    int self = open(self_path, O_RDONLY | O_CLOEXEC);
    if (self < 0) fail("cannot open", self_path);
    struct stat info;
    if (fstat(self, &info) != 0 || info.st_size < 2 * TRAILER) fail("not a single-file bundle", self_path);

    unsigned char trailer[TRAILER];
    if (read_at(self, trailer, TRAILER, info.st_size - TRAILER) != 0 || memcmp(trailer, "CAGENT-PAYLOAD-1", 16) != 0)
        fail("the bundled payload is damaged: no payload trailer in", self_path);
    uint64_t payload_offset = le64(trailer + 16);
    if (payload_offset < TRAILER || payload_offset > (uint64_t)info.st_size) fail("the bundled payload is damaged: bad trailer in", self_path);
    if (read_at(self, trailer, TRAILER, (off_t)(payload_offset - TRAILER)) != 0 || memcmp(trailer, "CAGENT-LOADER-01", 16) != 0)
        fail("the bundled executable is damaged: no loader trailer in", self_path);
    uint64_t offset = le64(trailer + 16), length = le64(trailer + 24), size = le64(trailer + 32);
    if (offset > payload_offset || length > payload_offset - offset || size > (1ull << 32))
        fail("the bundled executable is damaged: bad loader trailer in", self_path);
    char hash[33];
    for (int i = 0; i < 16; i++) snprintf(hash + 2 * i, 3, "%02x", trailer[40 + i]);

    setenv("CAGENT_SINGLE_FILE", self_path, 1);
    const char *why = NULL;
    char *folder = cache_folder();
    char *target = NULL;
    if (folder && asprintf(&target, "%s/%s", folder, hash) >= 0) {
        struct stat cached;
        if (stat(target, &cached) == 0) {
            if ((uint64_t)cached.st_size == size && (cached.st_mode & 0111)) {
                execv(target, argv);
                why = strerror(errno);
                fprintf(stderr, "cagent-sidecar: warning: cannot run the cached executable %s (%s); unpacking it again\n", target, why);
            } else {
                fprintf(stderr, "cagent-sidecar: warning: the cached executable %s was damaged (%lld bytes instead of %llu); unpacking it again\n",
                        target, (long long)cached.st_size, (unsigned long long)size);
            }
            unlink(target);
        }
        int fd = open(folder, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0755);
        if (fd >= 0) {
            if (unpack(self, offset, length, size, fd, &why) != 0) fail(why, self_path);
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
            if (linkat(AT_FDCWD, proc, AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0 || errno == EEXIST) {
                close(fd);
                execv(target, argv);  // (on EEXIST another launch linked the same executable first)
            }
            why = strerror(errno);
            close(fd);
        } else {
            why = strerror(errno);
        }
    } else {
        why = "no home folder";
    }
    // No cache: run the executable from memory for this launch.
    fprintf(stderr, "cagent-sidecar: warning: cannot cache the executable in %s (%s); running it from memory\n",
            folder ? folder : "~/.cache", why);
    int memory = memfd_create("cagent-sidecar", MFD_CLOEXEC);
    if (memory < 0) fail("cannot create an in-memory file", strerror(errno));
    if (unpack(self, offset, length, size, memory, &why) != 0) fail(why, self_path);
    fexecve(memory, argv, environ);
    fail("cannot run the bundled executable", strerror(errno));
}
