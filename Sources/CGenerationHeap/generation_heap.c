// A region allocator for one CPython interpreter generation (generation_heap.h says why).

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "generation_heap.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SPAN_SHIFT 16
#define SPAN_SIZE ((size_t)1 << SPAN_SHIFT)
#define SPAN_MASK (~(uintptr_t)(SPAN_SIZE - 1))
#define HEADER 64
#define SMALL_MAX 512
#define MEDIUM_MAX (16 * 1024)
#define LARGE UINT32_MAX
#define RUN_LISTS 64

/// At the start of every span: its class and its free blocks.
typedef struct span {
    uint32_t cls;       // size class, or LARGE
    uint32_t count;     // spans in this run
    uint32_t used;      // blocks handed out
    uint32_t capacity;  // blocks that fit
    void *free;         // freed blocks of this span, linked through their first word
    char *bump;         // first block never handed out
    struct span *next;  // in the class's list of spans with room, or a free-run list
    struct span *prev;
} span;

_Static_assert(sizeof(span) <= HEADER, "a span header must fit in HEADER bytes");

/// What one domain's allocator context points to.
typedef struct domain {
    generation_heap *heap;
    PyMemAllocatorDomain which;
    PyMemAllocatorEx replaced;
} domain;

enum { SMALL_CLASSES = SMALL_MAX / 16, MAX_CLASSES = SMALL_CLASSES + 32 };

struct generation_heap {
    pthread_mutex_t lock;
    char *mapping;  // what mmap returned
    size_t mapping_size;
    char *base;     // span-aligned start of the region
    size_t size;
    char *bump;     // first span never handed out
    uint32_t class_size[MAX_CLASSES];
    span *room[MAX_CLASSES];    // spans of each class with a free block
    span *runs[RUN_LISTS + 1];  // freed runs by span count; [0]: longer ones
    domain domains[3];
};

static int owns(const generation_heap *heap, const void *pointer) {
    return (uintptr_t)pointer - (uintptr_t)heap->base < heap->size;
}

static uint32_t class_of(const generation_heap *heap, size_t size) {
    if (size <= SMALL_MAX) return size == 0 ? 0 : (uint32_t)((size - 1) >> 4);
    uint32_t cls = SMALL_CLASSES;
    while (heap->class_size[cls] < size) cls++;
    return cls;
}

static void unlink_span(span **list, span *s) {
    if (s->prev) s->prev->next = s->next; else *list = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static void push_span(span **list, span *s) {
    s->prev = NULL;
    s->next = *list;
    if (*list) (*list)->prev = s;
    *list = s;
}

/// `count` contiguous spans: a freed run of that length, else new ones from the region.
static span *take_run(generation_heap *heap, uint32_t count) {
    span **list = &heap->runs[count <= RUN_LISTS ? count : 0];
    for (span *s = *list; s; s = s->next) {
        if (s->count == count) {
            unlink_span(list, s);
            return s;
        }
    }
    size_t bytes = (size_t)count << SPAN_SHIFT;
    if ((size_t)(heap->base + heap->size - heap->bump) < bytes) return NULL;
    span *s = (span *)heap->bump;
    heap->bump += bytes;
    s->count = count;
    return s;
}

/// Gives a run's pages back to the system; its addresses are kept for reuse.
static void release_run(generation_heap *heap, span *s) {
    uint32_t count = s->count;
    madvise(s, (size_t)count << SPAN_SHIFT, MADV_DONTNEED);
    s->count = count;
    push_span(&heap->runs[count <= RUN_LISTS ? count : 0], s);
}

static void *allocate(generation_heap *heap, size_t size) {
    if (size > MEDIUM_MAX) {
        if (size > ((size_t)UINT32_MAX << SPAN_SHIFT) - HEADER) return NULL;
        uint32_t count = (uint32_t)((size + HEADER + SPAN_SIZE - 1) >> SPAN_SHIFT);
        span *s = take_run(heap, count);
        if (!s) return NULL;
        s->cls = LARGE;
        return (char *)s + HEADER;
    }
    uint32_t cls = class_of(heap, size);
    size_t block = heap->class_size[cls];
    span *s = heap->room[cls];
    if (!s) {
        s = take_run(heap, 1);
        if (!s) return NULL;
        s->cls = cls;
        s->used = 0;
        s->capacity = (uint32_t)((SPAN_SIZE - HEADER) / block);
        s->free = NULL;
        s->bump = (char *)s + HEADER;
        push_span(&heap->room[cls], s);
    }
    void *pointer;
    if (s->free) {
        pointer = s->free;
        s->free = *(void **)pointer;
    } else {
        pointer = s->bump;
        s->bump += block;
    }
    if (++s->used == s->capacity) unlink_span(&heap->room[cls], s);
    return pointer;
}

static size_t usable_size(const generation_heap *heap, const span *s) {
    return s->cls == LARGE ? ((size_t)s->count << SPAN_SHIFT) - HEADER : heap->class_size[s->cls];
}

static void release(generation_heap *heap, void *pointer) {
    span *s = (span *)((uintptr_t)pointer & SPAN_MASK);
    if (s->cls == LARGE) {
        release_run(heap, s);
        return;
    }
    int was_full = s->used == s->capacity;
    *(void **)pointer = s->free;
    s->free = pointer;
    s->used--;
    if (was_full) push_span(&heap->room[s->cls], s);
    // An empty span goes back to the system unless it is its class's only one with room
    // (the next allocation would take it again).
    if (s->used == 0 && (s->next || s->prev)) {
        unlink_span(&heap->room[s->cls], s);
        release_run(heap, s);
    }
}

// MARK: - The PyMemAllocatorEx functions

static void *heap_malloc(void *context, size_t size) {
    domain *d = context;
    pthread_mutex_lock(&d->heap->lock);
    void *pointer = allocate(d->heap, size);
    pthread_mutex_unlock(&d->heap->lock);
    return pointer;
}

static void *heap_calloc(void *context, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) return NULL;
    void *pointer = heap_malloc(context, total);
    if (pointer) memset(pointer, 0, total);
    return pointer;
}

static void heap_free(void *context, void *pointer) {
    domain *d = context;
    if (!pointer) return;
    if (!owns(d->heap, pointer)) {
        d->replaced.free(d->replaced.ctx, pointer);
        return;
    }
    pthread_mutex_lock(&d->heap->lock);
    release(d->heap, pointer);
    pthread_mutex_unlock(&d->heap->lock);
}

static void *heap_realloc(void *context, void *pointer, size_t size) {
    domain *d = context;
    if (!pointer) return heap_malloc(context, size);
    if (!owns(d->heap, pointer)) return d->replaced.realloc(d->replaced.ctx, pointer, size);
    generation_heap *heap = d->heap;
    pthread_mutex_lock(&heap->lock);
    span *s = (span *)((uintptr_t)pointer & SPAN_MASK);
    size_t usable = usable_size(heap, s);
    // Fits, and would not fit a class at most half as big: keep the block.
    if (size <= usable && (size > usable / 2 || usable <= 16)) {
        pthread_mutex_unlock(&heap->lock);
        return pointer;
    }
    void *moved = allocate(heap, size);
    if (moved) {
        memcpy(moved, pointer, size < usable ? size : usable);
        release(heap, pointer);
    }
    pthread_mutex_unlock(&heap->lock);
    return moved;
}

// MARK: - Static types

/// Every static type seen registered below `object` at the end of a heap generation.
/// Process-wide, as the types themselves are: a type reset once and readied again is
/// registered again only if the next interpreter readies it, but it may still be
/// written to (a single-phase module's init), so it is checked at every release.
static struct {
    PyTypeObject **items;
    size_t count;
    size_t capacity;
} static_types;

static int remember(PyTypeObject *type) {
    for (size_t i = 0; i < static_types.count; i++) {
        if (static_types.items[i] == type) return 0;
    }
    if (static_types.count == static_types.capacity) {
        size_t capacity = static_types.capacity ? static_types.capacity * 2 : 512;
        PyTypeObject **items = realloc(static_types.items, capacity * sizeof(PyTypeObject *));
        if (!items) return 0;
        static_types.items = items;
        static_types.capacity = capacity;
    }
    static_types.items[static_types.count++] = type;
    return 1;
}

/// Whether `type` is libpython's (linked into the same file as `object`), not an
/// extension module's: those are unloaded with their generation.
static int in_libpython(const void *type) {
    Dl_info object, other;
    if (!dladdr(&PyBaseObject_Type, &object) || !dladdr(type, &other)) return 0;
    return object.dli_fbase == other.dli_fbase;
}

/// Adds `type` and libpython's static types registered below it. Reads memory only: no
/// interpreter runs at this point.
static void collect(PyTypeObject *type) {
    if (!in_libpython(type)) return;
    remember(type);
    PyObject *subclasses = type->tp_subclasses;
    if (!subclasses || !PyDict_Check(subclasses)) return;
    Py_ssize_t position = 0;
    PyObject *key, *reference;
    while (PyDict_Next(subclasses, &position, &key, &reference)) {
        if (!PyWeakref_CheckRef(reference)) continue;
        // Not PyWeakref_GET_OBJECT: after finalization a static type's reference count
        // may be down to zero (it is never deallocated), which that macro reads as dead.
        PyObject *subclass = ((PyWeakReference *)reference)->wr_object;
        if (subclass == Py_None || !PyType_Check(subclass)) continue;
        PyTypeObject *subtype = (PyTypeObject *)subclass;
        if (!(subtype->tp_flags & Py_TPFLAGS_HEAPTYPE) && subtype != type) collect(subtype);
    }
}

static int dict_touches(const generation_heap *heap, PyObject *object) {
    if (!object) return 0;
    if (owns(heap, object)) return 1;
    PyDictObject *dict = (PyDictObject *)object;
    if (owns(heap, dict->ma_keys) || owns(heap, dict->ma_values)) return 1;
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(object, &position, &key, &value)) {
        if (owns(heap, key) || owns(heap, value)) return 1;
    }
    return 0;
}

static int tuple_touches(const generation_heap *heap, PyObject *tuple) {
    if (!tuple) return 0;
    if (owns(heap, tuple)) return 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        if (owns(heap, PyTuple_GET_ITEM(tuple, i))) return 1;
    }
    return 0;
}

static int weaklist_touches(const generation_heap *heap, PyObject *head) {
    for (PyWeakReference *ref = (PyWeakReference *)head; ref; ref = ref->wr_next) {
        if (owns(heap, ref)) return 1;
    }
    return 0;
}

void generation_heap_note_static_types(void) {
    collect(&PyBaseObject_Type);
}

/// A descriptor's qualified name is computed on first use and cached in it: a
/// descriptor that outlives the heap must not keep one made there.
static void forget_qualnames(const generation_heap *heap, PyObject *dict) {
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &position, &key, &value)) {
        PyTypeObject *kind = Py_TYPE(value);
        if (kind == &PyMethodDescr_Type || kind == &PyClassMethodDescr_Type || kind == &PyMemberDescr_Type
            || kind == &PyGetSetDescr_Type || kind == &PyWrapperDescr_Type) {
            PyDescrObject *descriptor = (PyDescrObject *)value;
            if (owns(heap, descriptor->d_qualname)) descriptor->d_qualname = NULL;
        }
    }
}

int generation_heap_release_statics(generation_heap *heap) {
    collect(&PyBaseObject_Type);
    int reset = 0;
    for (size_t i = 0; i < static_types.count; i++) {
        PyTypeObject *type = static_types.items[i];
        if (weaklist_touches(heap, type->tp_weaklist)) type->tp_weaklist = NULL;
        // The registry of subclasses alone: the type itself stays as it is (C code
        // keeps borrowed pointers into its dictionary, e.g. object.__reduce_ex__).
        if (dict_touches(heap, type->tp_subclasses)) type->tp_subclasses = NULL;
        int bases = tuple_touches(heap, type->tp_bases);
        if (!bases && !dict_touches(heap, type->tp_dict) && !tuple_touches(heap, type->tp_mro)
            && !owns(heap, type->tp_cache)) {
            if (type->tp_dict) forget_qualnames(heap, type->tp_dict);
            continue;
        }
        // What PyType_Ready builds; it builds it again (what was here is gone, or leaks).
        type->tp_dict = NULL;
        type->tp_mro = NULL;
        type->tp_cache = NULL;
        type->tp_subclasses = NULL;
        if (bases) type->tp_bases = NULL;
        type->tp_flags &= ~(Py_TPFLAGS_READY | Py_TPFLAGS_READYING | Py_TPFLAGS_VALID_VERSION_TAG);
        type->tp_version_tag = 0;
        reset++;
    }
    for (int i = 0; i < 3; i++) PyMem_SetAllocator(heap->domains[i].which, &heap->domains[i].replaced);
    return reset;
}

// MARK: - Life cycle

generation_heap *generation_heap_create(void) {
    generation_heap *heap = calloc(1, sizeof(generation_heap));
    if (!heap) return NULL;
    // Address space only: MAP_NORESERVE commits nothing until a page is touched. Halved
    // until it fits (an address-space limit, or overcommit turned off).
    for (size_t size = (size_t)1 << 36; size >= ((size_t)1 << 28); size >>= 1) {
        void *mapping = mmap(NULL, size + SPAN_SIZE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (mapping == MAP_FAILED) continue;
        heap->mapping = mapping;
        heap->mapping_size = size + SPAN_SIZE;
        heap->base = (char *)(((uintptr_t)mapping + SPAN_SIZE - 1) & SPAN_MASK);
        heap->size = size;
        break;
    }
    if (!heap->mapping) {
        free(heap);
        return NULL;
    }
    heap->bump = heap->base;
    pthread_mutex_init(&heap->lock, NULL);
    uint32_t cls = 0;
    for (uint32_t size = 16; size <= SMALL_MAX; size += 16) heap->class_size[cls++] = size;
    for (uint32_t power = SMALL_MAX; power < MEDIUM_MAX; power <<= 1) {
        for (uint32_t step = 1; step <= 4; step++) heap->class_size[cls++] = power + step * (power / 4);
    }
    return heap;
}

void generation_heap_install(generation_heap *heap) {
    static const PyMemAllocatorDomain which[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    for (int i = 0; i < 3; i++) {
        domain *d = &heap->domains[i];
        d->heap = heap;
        d->which = which[i];
        PyMem_GetAllocator(which[i], &d->replaced);
        PyMemAllocatorEx allocator = {d, heap_malloc, heap_calloc, heap_realloc, heap_free};
        PyMem_SetAllocator(which[i], &allocator);
    }
}

void generation_heap_destroy(generation_heap *heap) {
    if (!heap) return;
    // Diagnostics: keep the addresses, without access, so that a pointer left into a
    // finished generation faults where it is used instead of reading a later heap.
    if (getenv("CAGENT_HEAP_GUARD")) {
        madvise(heap->mapping, heap->mapping_size, MADV_DONTNEED);
        mprotect(heap->mapping, heap->mapping_size, PROT_NONE);
    } else {
        munmap(heap->mapping, heap->mapping_size);
    }
    pthread_mutex_destroy(&heap->lock);
    free(heap);
}
