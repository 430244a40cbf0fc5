// Helpers whose system headers must not reach Swift through CProcessDescriptors.h: through
// <fcntl.h> the module would declare `struct stat`, and Swift 6's member import visibility then
// refuses `st_size` in files that use `stat` without importing this module (release builds).
#include "CProcessDescriptors.h"
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

int corral_macvtap_prepare(int fd, int vnet_header, int multi_queue) {
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    if (ioctl(fd, TUNGETIFF, &request) < 0) return -1;
    short flags = request.ifr_flags;
    if (vnet_header) {
        unsigned int features = 0;
        if (ioctl(fd, TUNGETFEATURES, &features) < 0) return -1;
        if (features & IFF_VNET_HDR) flags |= IFF_VNET_HDR;
    } else {
        flags &= ~IFF_VNET_HDR;
    }
    if (multi_queue) flags |= IFF_MULTI_QUEUE; else flags &= ~IFF_MULTI_QUEUE;
    if (flags == request.ifr_flags) return 0;
    request.ifr_flags = flags;
    return ioctl(fd, TUNSETIFF, &request);
}

int corral_tap_attach(const char *device, const char *name, int vnet_header, int multi_queue) {
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    if (strlen(name) >= sizeof(request.ifr_name)) {
        errno = EINVAL;
        return -2;
    }
    /* Only the tun device (character 10:200) is opened: opening another device node can act
       (a watchdog's starts its timer), so anything else is refused as TUNSETIFF would refuse
       it, unopened. */
    struct stat node;
    if (stat(device, &node) != 0) return -1;
    if (!S_ISCHR(node.st_mode) || major(node.st_rdev) != 10 || minor(node.st_rdev) != 200) {
        errno = ENOTTY;
        return -2;
    }
    int fd = open(device, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    strcpy(request.ifr_name, name);
    request.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (vnet_header) {
        unsigned int features = 0;
        if (ioctl(fd, TUNGETFEATURES, &features) == 0 && (features & IFF_VNET_HDR)) request.ifr_flags |= IFF_VNET_HDR;
    }
    if (multi_queue) request.ifr_flags |= IFF_MULTI_QUEUE;
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -2;
    }
    return fd;
}

int corral_open_pseudo_terminal(char *path, size_t length) {
    int controller = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (controller < 0) return -1;
    int unlock = 0;
    unsigned int number = 0;
    if (ioctl(controller, TIOCSPTLCK, &unlock) != 0 || ioctl(controller, TIOCGPTN, &number) != 0) {
        int saved = errno;
        close(controller);
        errno = saved;
        return -1;
    }
    snprintf(path, length, "/dev/pts/%u", number);
    return controller;
}
