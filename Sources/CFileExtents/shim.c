#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include "file_extents.h"

int corral_punch_hole(int fd, off_t offset, off_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

off_t corral_seek_data(int fd, off_t offset) { return lseek(fd, offset, SEEK_DATA); }

off_t corral_seek_hole(int fd, off_t offset) { return lseek(fd, offset, SEEK_HOLE); }

int corral_o_direct(void) { return O_DIRECT; }
