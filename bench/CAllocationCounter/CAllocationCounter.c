#define _GNU_SOURCE
#include "CAllocationCounter.h"

#include <dlfcn.h>
#include <stddef.h>

/* glibc's own entry points: used only while dlsym() itself allocates during
 * the first resolution (dlsym may call calloc or malloc). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);

typedef void *(*malloc_function)(size_t);
typedef void *(*calloc_function)(size_t, size_t);
typedef void *(*realloc_function)(void *, size_t);
typedef void (*free_function)(void *);

/* The next definitions, resolved once (any thread may do it; all store the same values). */
static malloc_function next_malloc;
static calloc_function next_calloc;
static realloc_function next_realloc;
static free_function next_free;
static int reached;

/* Per-thread state in the static TLS block (initial-exec): reading it never allocates. */
static __thread int counting __attribute__((tls_model("initial-exec")));
static __thread int resolving __attribute__((tls_model("initial-exec")));
static __thread walbridge_allocation_counts counts __attribute__((tls_model("initial-exec")));

static void resolve(void) {
        resolving = 1;
        malloc_function m = (malloc_function)dlsym(RTLD_NEXT, "malloc");
        calloc_function c = (calloc_function)dlsym(RTLD_NEXT, "calloc");
        realloc_function r = (realloc_function)dlsym(RTLD_NEXT, "realloc");
        free_function f = (free_function)dlsym(RTLD_NEXT, "free");
        __atomic_store_n(&next_calloc, c ? c : __libc_calloc, __ATOMIC_RELEASE);
        __atomic_store_n(&next_realloc, r ? r : __libc_realloc, __ATOMIC_RELEASE);
        __atomic_store_n(&next_free, f ? f : __libc_free, __ATOMIC_RELEASE);
        /* malloc last: it is the one the others check. */
        __atomic_store_n(&next_malloc, m ? m : __libc_malloc, __ATOMIC_RELEASE);
        resolving = 0;
}

/* 1 when the next definitions are known; 0 while this thread is resolving them. */
static inline int ready(void) {
        if (__atomic_load_n(&next_malloc, __ATOMIC_ACQUIRE))
                return 1;
        if (resolving)
                return 0;
        resolve();
        return 1;
}

void *malloc(size_t size) {
        if (counting)
                counts.mallocs++;
        if (!reached)
                __atomic_store_n(&reached, 1, __ATOMIC_RELAXED);
        return ready() ? __atomic_load_n(&next_malloc, __ATOMIC_RELAXED)(size) : __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
        if (counting)
                counts.callocs++;
        return ready() ? __atomic_load_n(&next_calloc, __ATOMIC_RELAXED)(count, size) : __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
        if (counting)
                counts.reallocs++;
        return ready() ? __atomic_load_n(&next_realloc, __ATOMIC_RELAXED)(pointer, size) : __libc_realloc(pointer, size);
}

void free(void *pointer) {
        if (pointer && counting)
                counts.frees++;
        if (ready())
                __atomic_load_n(&next_free, __ATOMIC_RELAXED)(pointer);
        else
                __libc_free(pointer);
}

void walbridge_allocation_counting_start(void) {
        walbridge_allocation_counts zero = {0, 0, 0, 0};
        counts = zero;
        counting = 1;
}

walbridge_allocation_counts walbridge_allocation_counting_stop(void) {
        counting = 0;
        return counts;
}

int walbridge_allocation_counter_active(void) {
        return __atomic_load_n(&reached, __ATOMIC_RELAXED);
}
