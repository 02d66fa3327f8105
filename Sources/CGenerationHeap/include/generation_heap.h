#ifndef CAGENT_GENERATION_HEAP_H
#define CAGENT_GENERATION_HEAP_H

#include <stddef.h>

/// The memory of one interpreter generation, given back whole when it ends.
///
/// `Py_FinalizeEx` does not free everything a generation allocated: objects still
/// referenced from extension modules' static data and what CPython itself leaves stay
/// allocated for the life of the process (measured: ~11 MB of pymalloc blocks and ~6 MB
/// of malloc per cold restart of the service's stack). A generation heap serves all
/// three CPython allocator domains (raw, mem, object) of one generation from a region of
/// its own; once that generation is finalized, the region is unmapped whatever is still
/// allocated in it.
///
/// Blocks come from 64 KiB spans of one size class each (16-byte steps to 512 bytes,
/// then four classes per doubling to 16 KiB); larger blocks take whole spans. A span
/// whose blocks are all free goes back to the system (`MADV_DONTNEED`). Pointers that
/// are not in the region (allocated before the heap was installed) go to the allocator
/// installed before it. One lock: the raw domain is called without the GIL.
typedef struct generation_heap generation_heap;

/// Reserves the address space (no memory yet). NULL when it cannot be reserved.
generation_heap *generation_heap_create(void);

/// Makes it the allocator of all three domains, remembering the ones it replaces.
/// Call with no interpreter running (before `Py_InitializeFromConfig`).
void generation_heap_install(generation_heap *heap);

/// Remembers libpython's static types registered below `object` now. Call with the GIL
/// held before `Py_FinalizeEx`, in every generation: finalization tears some static
/// types down and unregisters them, but leaves their weak-reference lists pointing at
/// references it freed, and the next interpreter readies them again.
void generation_heap_note_static_types(void);

/// After `Py_FinalizeEx`, before the generation's extension modules are unloaded and
/// before `generation_heap_destroy`: makes libpython's static
/// types forget what they hold in this heap, and puts the replaced allocators back.
///
/// Static types outlive an interpreter: a type that still has subclasses is not torn
/// down by finalization (every leaked class keeps `object`, `type` and its other bases
/// registered), and single-phase built-in modules write new objects into their static
/// types' dictionaries at each import (`_datetime`'s `min`, `max`, `utc`). Every static
/// type still registered below `object` whose dictionary, MRO, bases, subclass registry
/// or weak references point into the heap is returned to its unready state; the next
/// interpreter readies it again (at start for the core types, when first used for the
/// others), in its own memory. Returns how many types were reset.
int generation_heap_release_statics(generation_heap *heap);

/// Unmaps the region and frees the heap: every block in it is gone.
void generation_heap_destroy(generation_heap *heap);

#endif
