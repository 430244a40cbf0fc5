#ifndef CORRAL_ASYNC_IO_H
#define CORRAL_ASYNC_IO_H

#include <stdint.h>
#include <sys/types.h>

/// Linux's native asynchronous I/O (io_setup, io_submit, io_getevents, io_destroy), which
/// glibc does not wrap and Swift cannot call through the variadic syscall(2).

/// Creates a context for at most `depth` writes in flight. Returns 0 and sets `*context`, or
/// -1 with errno set (ENOSYS: no AIO in this kernel; EAGAIN: the system's aio-max-nr is spent).
int corral_aio_setup(unsigned depth, uint64_t *context);

/// A non-blocking, close-on-exec eventfd for the completions (Swift's Glibc module does not
/// show eventfd). Returns it, or -1 with errno set.
int corral_aio_eventfd(void);

/// Submits one write of `length` bytes from `buffer` at `offset` of `fd`, durable before it
/// completes (RWF_DSYNC), whose completion increments the eventfd `eventfd` and carries `token`.
/// Returns 0, or -1 with errno set (EINVAL: the kernel or the file refuses it).
int corral_aio_submit_durable_write(uint64_t context, int fd, const void *buffer, size_t length, off_t offset, int eventfd, uint64_t token);

/// One finished write: its token and result (bytes written, or -errno).
struct corral_aio_completion {
    uint64_t token;
    int64_t result;
};

/// Collects at most `capacity` finished writes, waiting for at least `minimum` of them for at
/// most `timeout_ms` milliseconds (0 and 0: without waiting). Returns how many, or -1 with
/// errno set.
int corral_aio_reap(uint64_t context, struct corral_aio_completion *completions, int capacity, int minimum, int timeout_ms);

/// How many times the calling thread has given up its CPU to wait (voluntary context switches,
/// getrusage's RUSAGE_THREAD, which Swift's Glibc module does not show), or -1. A submission
/// during which it grew waited inside the kernel (for the disk, or a lock); one that only took
/// long was preempted.
long corral_thread_voluntary_switches(void);

/// Destroys the context (waiting for writes still in flight).
void corral_aio_destroy(uint64_t context);

#endif
