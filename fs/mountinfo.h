/* SPDX-License-Identifier: MIT */
/* This process's mount table (/proc/self/mountinfo), read without
 * touching any mount point: a stat() of a dead or our own FUSE mount would
 * wait for an answer that does not come. */
#ifndef CMKFS_FS_MOUNTINFO_H
#define CMKFS_FS_MOUNTINFO_H

#include <stdbool.h>

/* The device number of the mount on mountpoint (the last one there): 0,
 * or -ENOENT when nothing is mounted there. */
int cmk_mountinfo_dev(const char *mountpoint, unsigned *major, unsigned *minor);
/* True when a mount of type (e.g. "fuse.cmkfs") has source as its
 * source. */
bool cmk_mountinfo_has_source(const char *type, const char *source);

#endif
