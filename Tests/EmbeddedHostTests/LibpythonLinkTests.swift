import Testing
@testable import EmbeddedHost

/// Which libpython the process has: the tests are linked as `make` links the host.
struct LibpythonLinkTests {
    @Test func theTestsHaveLibpythonLinkedInAndNoWarning() {
        #expect(LibpythonLink.current == .linkedIn)
        #expect(LibpythonLink.current.warning == nil)
    }

    @Test func theSharedLibraryIsRecognizedByItsFileName() {
        #expect(LibpythonLink.isSharedLibpython("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"))
        #expect(LibpythonLink.isSharedLibpython("libpython3.12.so"))
        #expect(!LibpythonLink.isSharedLibpython("/usr/lib/libpythonic.a"))
        #expect(!LibpythonLink.isSharedLibpython("/work/.build-python/libpython3.11.o"))
        #expect(!LibpythonLink.isSharedLibpython("/usr/lib/x86_64-linux-gnu/libz.so.1"))
        let maps = """
            00400000-00401000 r-xp 00000000 08:01 123 /usr/bin/app
            7f0000000000-7f0000100000 r-xp 00000000 08:01 456                        /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0
            7f0000200000-7f0000300000 rw-p 00000000 00:00 0
            """
        #expect(LibpythonLink.sharedLibpython(inMaps: maps) == "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")
        #expect(LibpythonLink.sharedLibpython(inMaps: "00400000-00401000 r-xp 00000000 08:01 123 /usr/bin/app\n") == nil)
        let warning = LibpythonLink.shared(path: "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0").warning
        #expect(warning?.contains("libpython3.11.so.1.0") == true)
        #expect(warning?.contains("toolchain/swift-build-app.sh") == true)
    }
}
