#ifndef CORRAL_FILE_EXTENTS_H
#define CORRAL_FILE_EXTENTS_H

#include <sys/types.h>

/// Deallocates `length` bytes at `offset` of the file (they read as zeros), keeping its size:
/// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE). Returns 0, or -1 with errno set.
int corral_punch_hole(int fd, off_t offset, off_t length);

/// lseek with SEEK_DATA and SEEK_HOLE, which Swift's Glibc module does not export.
off_t corral_seek_data(int fd, off_t offset);
off_t corral_seek_hole(int fd, off_t offset);

/// O_DIRECT, which Swift's Glibc module does not export (its value differs by architecture).
int corral_o_direct(void);

#endif
