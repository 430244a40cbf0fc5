#ifndef CORRAL_PROCESS_DESCRIPTORS_H
#define CORRAL_PROCESS_DESCRIPTORS_H

// Linux process descriptors (pidfd, Linux 5.3+). glibc's own wrappers are not visible to
// Swift's Glibc module and `syscall` is variadic, so these two thin inline calls are the
// whole of this target, with an eventfd and prctl (also hidden from Swift) for the reaper thread,
// a thread's CPU affinity for the statistics and for pinning, and a descriptor sent over a
// socket (QEMU's `getfd`), glibc's heap controls (`malloc.h` is not in Swift's Glibc module),
// the vhost-vsock, ethtool and perf ioctls (`ioctl` is variadic), perf_event_open, and madvise's
// MADV_PAGEOUT.

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/perf_event.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/// Caps glibc's malloc arenas (`mallopt(M_ARENA_MAX, count)`); 1 on success.
static inline int corral_limit_malloc_arenas(int count) {
    return mallopt(M_ARENA_MAX, count);
}

/// Returns the free pages of every malloc arena to the kernel (`malloc_trim(0)`).
static inline int corral_trim_heap(void) {
    return malloc_trim(0);
}

/// Asks the kernel to reclaim the pages of [start, start + length) now (`MADV_PAGEOUT`, Linux
/// 5.4+; the constant is missing from older headers); 0 on success, -1 with errno.
static inline int corral_page_out(void *start, unsigned long length) {
    return madvise(start, length, 21 /* MADV_PAGEOUT */);
}

/// Tells the kernel the pages of [start, start + length) are used in no particular order
/// (`MADV_RANDOM`): a fault reads that page alone, without read-ahead around it.
static inline int corral_advise_random(void *start, unsigned long length) {
    return madvise(start, length, MADV_RANDOM);
}

/// Opens and enables a host counter (`perf_event_open` of `type`/`config`) on process `pid`,
/// counting the threads it starts from now on too (`inherit`), as libvirt opens its perf events;
/// the descriptor, or -1 with errno.
static inline int corral_perf_counter_open(unsigned int type, unsigned long long config, pid_t pid) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = type;
    attr.config = config;
    attr.inherit = 1;
    attr.disabled = 1;
    int fd = (int)syscall(SYS_perf_event_open, &attr, pid, -1, -1, 0);
    if (fd < 0) return -1;
    if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/// The CPUs thread `tid` may run on, as a byte bitmap of `length` bytes (CPU n is bit n % 8 of
/// byte n / 8); the number of bytes the kernel filled, or -1 with errno. `sched_getaffinity` is
/// hidden from Swift's Glibc module (it needs _GNU_SOURCE), so the raw system call is used.
static inline int corral_thread_affinity(pid_t tid, unsigned char *map, unsigned long length) {
    return (int)syscall(SYS_sched_getaffinity, tid, length, map);
}

/// Lets thread `tid` run only on the CPUs of `map` (`length` bytes, as above); 0, or -1 with
/// errno. `sched_setaffinity` is hidden from Swift for the same reason.
static inline int corral_set_thread_affinity(pid_t tid, const unsigned char *map, unsigned long length) {
    return (int)syscall(SYS_sched_setaffinity, tid, length, map);
}

/// A descriptor that becomes readable when process `pid` exits; -1 with errno on failure.
static inline int corral_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/// Sends `signal` to the process of `pidfd` (never to a later process that reuses its pid).
static inline int corral_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}

/// Names the calling thread as the kernel shows it (at most 15 bytes are kept).
static inline void corral_name_current_thread(const char *name) {
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

/// A non-blocking, close-on-exec eventfd, for waking a thread blocked in `poll`.
static inline int corral_wake_descriptor(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}


/// Sends `length` bytes of `data` on the stream socket `socket` with the descriptor `fd`
/// attached (`SCM_RIGHTS`): how QEMU's monitor takes a file (`getfd`). The `CMSG_*` macros are
/// not visible to Swift. Returns what `sendmsg` returns (bytes sent, or -1 with errno).
static inline long corral_send_with_descriptor(int socket, const void *data, unsigned long length, int fd) {
    struct iovec vector = { .iov_base = (void *)data, .iov_len = length };
    union {
        char bytes[CMSG_SPACE(sizeof(int))];
        struct cmsghdr alignment;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message;
    memset(&message, 0, sizeof(message));
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof(control.bytes);
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
    return (long)sendmsg(socket, &message, MSG_NOSIGNAL);
}

/// Binds the guest context ID `cid` to an open /dev/vhost-vsock (VHOST_VSOCK_SET_GUEST_CID,
/// _IOW(0xAF, 0x60, __u64)); 0 on success, -1 with errno (EADDRINUSE: another guest has it).
static inline int corral_vhost_vsock_set_guest_cid(int fd, unsigned long long cid) {
    unsigned long long value = cid;
    return ioctl(fd, _IOW(0xAF, 0x60, unsigned long long), &value);
}

/// Sets a network device's interrupt coalescing to `frames` received frames and nothing else
/// (ETHTOOL_SCOALESCE, as libvirt's virNetDevSetCoalesce sets it); 0 on success, -1 with errno.
static inline int corral_set_rx_coalesced_frames(const char *ifname, unsigned int frames) {
    struct ethtool_coalesce coalesce;
    memset(&coalesce, 0, sizeof(coalesce));
    coalesce.cmd = ETHTOOL_SCOALESCE;
    coalesce.rx_max_coalesced_frames = frames;
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strncpy(request.ifr_name, ifname, IFNAMSIZ - 1);
    request.ifr_data = (void *)&coalesce;
    int control = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (control < 0) return -1;
    int result = ioctl(control, SIOCETHTOOL, &request);
    int saved = errno;
    close(control);
    errno = saved;
    return result;
}

/// Prepares an open macvtap tap device (`/dev/tapN`) as libvirt's virNetDevMacVLanTapSetup
/// does: the virtio-net header on when `vnet_header` is set and the device offers it, off
/// otherwise; multi-queue on exactly when `multi_queue` is set. 0 on success, -1 with errno.
int corral_macvtap_prepare(int fd, int vnet_header, int multi_queue);

/// Opens the tun device node `device` (a copy of `/dev/net/tun`: character device 10:200, anything
/// else is refused unopened, as ENOTTY) and attaches the descriptor to
/// the tap `name` (`TUNSETIFF`: no packet information, the virtio-net header when the kernel
/// has it and `vnet_header` asks, a queue of a multi-queue tap with `multi_queue`); the
/// descriptor (close-on-exec); -1 with errno when the node does not open, -2 with errno when
/// the tap cannot be attached.
int corral_tap_attach(const char *device, const char *name, int vnet_header, int multi_queue);

/// Opens a new pseudo-terminal's controlling side (close-on-exec) and writes its terminal
/// side's path into `path`; the descriptor, or -1 with errno.
int corral_open_pseudo_terminal(char *path, size_t length);

#endif
