#define _GNU_SOURCE
#include "corral_async_io.h"

#include <errno.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int corral_aio_setup(unsigned depth, uint64_t *context) {
    aio_context_t created = 0;
    if (syscall(SYS_io_setup, depth, &created) != 0) return -1;
    *context = (uint64_t)created;
    return 0;
}

int corral_aio_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int corral_aio_submit_durable_write(uint64_t context, int fd, const void *buffer, size_t length, off_t offset, int eventfd, uint64_t token) {
    struct iocb block;
    memset(&block, 0, sizeof block);
    block.aio_data = token;
    block.aio_fildes = (uint32_t)fd;
    block.aio_lio_opcode = IOCB_CMD_PWRITE;
    block.aio_buf = (uint64_t)(uintptr_t)buffer;
    block.aio_nbytes = length;
    block.aio_offset = offset;
    block.aio_rw_flags = RWF_DSYNC;
    block.aio_flags = IOCB_FLAG_RESFD;
    block.aio_resfd = (uint32_t)eventfd;
    struct iocb *blocks[1] = { &block };
    for (;;) {
        long submitted = syscall(SYS_io_submit, (aio_context_t)context, 1L, blocks);
        if (submitted == 1) return 0;
        if (submitted < 0 && errno == EINTR) continue;
        if (submitted == 0) errno = EAGAIN;
        return -1;
    }
}

int corral_aio_reap(uint64_t context, struct corral_aio_completion *completions, int capacity, int minimum, int timeout_ms) {
    struct io_event events[16];
    if (capacity > 16) capacity = 16;
    if (minimum > capacity) minimum = capacity;
    struct timespec timeout = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
    for (;;) {
        long count = syscall(SYS_io_getevents, (aio_context_t)context, (long)minimum, (long)capacity, events, &timeout);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) return -1;
        for (long index = 0; index < count; index++) {
            completions[index].token = events[index].data;
            completions[index].result = events[index].res;
        }
        return (int)count;
    }
}

long corral_thread_voluntary_switches(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_THREAD, &usage) != 0) return -1;
    return usage.ru_nvcsw;
}

void corral_aio_destroy(uint64_t context) {
    syscall(SYS_io_destroy, (aio_context_t)context);
}
