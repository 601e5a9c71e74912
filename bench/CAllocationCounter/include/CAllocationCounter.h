#ifndef WALBRIDGE_CALLOCATIONCOUNTER_H
#define WALBRIDGE_CALLOCATIONCOUNTER_H

/*
 * WalBridge's allocation counter, for the allocation-budget tests and the
 * bench harness only (never linked into walbridge itself).
 *
 * The program that links this target defines malloc, calloc, realloc and
 * free; the dynamic linker resolves every library's calls to them (export
 * them with -Xlinker --export-dynamic-symbol=NAME). Each forwards to the
 * next definition (glibc's, found with dlsym(RTLD_NEXT)) and, while the
 * calling thread is counting, counts the call. Counts are per thread: other
 * threads (a parallel test, librdkafka's) never disturb a measurement.
 */

/* The allocator calls made on one thread between start and stop. */
typedef struct {
        long mallocs;  /* malloc */
        long callocs;  /* calloc */
        long reallocs; /* realloc */
        long frees;    /* free of a non-NULL pointer */
} walbridge_allocation_counts;

/* Resets the calling thread's counts and starts counting. */
void walbridge_allocation_counting_start(void);

/* Stops counting on the calling thread and returns its counts. */
walbridge_allocation_counts walbridge_allocation_counting_stop(void);

/* Non-zero once any allocator call reached this counter: zero means the
 * interposition is not in effect (the symbols are not exported). */
int walbridge_allocation_counter_active(void);

#endif
