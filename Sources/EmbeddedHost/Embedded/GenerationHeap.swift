import CGenerationHeap

/// The memory of one interpreter generation after the first, given back when it ends.
///
/// `Py_FinalizeEx` leaves part of a generation allocated for good: objects still
/// referenced from extension modules' static data and CPython's own leftovers (~11 MB
/// of pymalloc blocks and ~6 MB of malloc per cold restart of the service, measured).
/// So a later generation allocates everything CPython allocates (all three domains)
/// from a heap of its own, which is unmapped whole once the generation has ended
/// (`generation_heap.h`).
///
/// The first generation runs on CPython's own allocators and keeps its memory: what
/// libpython makes once and reuses across interpreters (static types readied at the
/// first start, caches made on first use) is made then, in memory that stays.
final class GenerationHeap {
    private let heap: OpaquePointer

    private init(heap: OpaquePointer) {
        self.heap = heap
    }

    /// Reserves a heap and makes it CPython's allocator; call with no interpreter
    /// running. Nil when the address space cannot be reserved.
    static func install() -> GenerationHeap? {
        guard let heap = generation_heap_create() else { return nil }
        generation_heap_install(heap)
        return GenerationHeap(heap: heap)
    }

    /// GIL held, before `Py_FinalizeEx`, in every generation (the first included):
    /// notes libpython's static types while they are all registered, so that the release
    /// of a later heap can find each one (`generation_heap.h`).
    static func noteStaticTypes() {
        generation_heap_note_static_types()
    }

    /// After `Py_FinalizeEx`: libpython's static types let go of the heap (and of the
    /// generation's extension modules, registered as their subclasses), and CPython's
    /// allocators come back. Returns how many static types were reset.
    @discardableResult
    func detach() -> Int {
        Int(generation_heap_release_statics(heap))
    }

    /// After ``detach()`` and after the generation's extension modules are unloaded
    /// (their destructors may still touch it): unmaps the heap.
    func destroy() {
        generation_heap_destroy(heap)
    }
}
