/* SPDX-License-Identifier: MIT */
/* `cmkfs mount` and the mount.fuse3 form (fs/mount.c). */
#ifndef CMKFS_FS_MOUNT_H
#define CMKFS_FS_MOUNT_H

/* argv[0] is "mount" for `cmkfs mount ...`, anything else for mount.fuse3's
 * "cmkfs CIPHERDIR MOUNTPOINT -o ...". Returns the exit code. */
int cmk_mount_main(int argc, char **argv);

#endif
