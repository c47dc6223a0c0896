/* SPDX-License-Identifier: MIT */
/* Names on disk: the one module that knows how a volume with encrypted
 * names stores them in the backing store (as gocryptfs's nametransform
 * does): each directory's id file, names as their encryption or, when
 * that is too long, as a long name with a side file holding it, and the
 * names of cmkfs's own files, which are no entries. crypto/names.c does
 * the cryptography; this file does the I/O. Every file it reads is opened
 * so that a symlink, FIFO or device in its place is an error, not a hang. */
#ifndef CMKFS_FS_BACKING_NAMES_H
#define CMKFS_FS_BACKING_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "crypto/names.h"

/* The directory id of the backing directory dir_fd (any descriptor,
 * O_PATH too): 0; -ENOENT when it has none; -EBADMSG when CMK_DIRID_FILE
 * is not a regular file of exactly CMK_DIRID_LEN bytes; else -errno. */
int cmk_bn_read_dirid(int dir_fd, uint8_t dirid[CMK_DIRID_LEN]);
/* Writes a new random id into dir_fd (O_EXCL: an existing one is never
 * replaced), synced to disk when sync; the id in dirid. 0 or -errno. */
int cmk_bn_new_dirid(int dir_fd, uint8_t dirid[CMK_DIRID_LEN], bool sync);

/* A long name's side file, written (and synced) before its entry
 * appears. Its content is fixed by the name and the directory, so one that
 * exists with that content is kept. 0 when bn is no long name. */
int cmk_bn_side_write(int dir_fd, const struct cmk_backing_name *bn);
/* Removes a long name's side file once its entry is gone. */
void cmk_bn_side_drop(int dir_fd, const struct cmk_backing_name *bn);
/* Reads the side file of the long name entry into enc (at least
 * CMK_NAME_ENC_MAX + 1 bytes, NUL-terminated) and checks that it belongs
 * to it: 0 and *len; -ENOENT without one; -EBADMSG for one that is not
 * a regular file of a sane size, or holds another name's encoding. */
int cmk_bn_side_read(int dir_fd, const char *entry, char *enc, size_t *len);

/* The side file of a symlink whose encrypted target is too long to be a
 * backing symlink's target: a regular file named by the target's marker
 * in the cipher directory (root_fd), holding the encoding. Written and
 * synced before the symlink appears: 0 or -errno. */
int cmk_bn_link_write(int root_fd, const char *marker, const char *enc,
		      size_t enc_len);
/* Reads the side file of marker into enc (CMK_SYMLINK_ENC_MAX + 1 bytes,
 * NUL-terminated) and checks that it is the encoding marker names: 0 and
 * *len; -ENOENT without one; -EBADMSG for one that is not a regular file
 * of a sane size or not marker's. */
int cmk_bn_link_read(int root_fd, const char *marker, char *enc, size_t *len);
/* Removes it once the last name of its symlink is gone. */
void cmk_bn_link_drop(int root_fd, const char *marker);
/* The marker of the backing symlink entry of dir_fd (st from lstat of
 * it) into marker: true when it has one. */
bool cmk_bn_link_marker(int dir_fd, const char *entry, const struct stat *st,
			char marker[CMK_SYMLINK_MARKER_LEN + 1]);

/* Where a mkdir (and, on stores without O_TMPFILE, a create) makes its
 * object before it takes its name: this prefix and 16 hex digits. An
 * entry named so is a leftover of an interrupted operation (fsck). */
#define CMK_BN_TMP_PREFIX "cmkfs.tmp."

/* What a backing directory entry is. */
enum cmk_bn_kind {
	CMK_BN_NAME,   /* an entry with a plaintext name */
	CMK_BN_DIRID,  /* the directory id */
	CMK_BN_SIDE,   /* a long name's side file */
	CMK_BN_VOLUME, /* the descriptor or its copies and temporaries
			* (root only) */
	CMK_BN_LINK,   /* a long symlink target's side file (root only) */
	CMK_BN_OTHER,  /* another name of cmkfs's ("cmkfs." ...) */
};
/* Classifies entry, a name read from a backing directory (root: it is
 * the cipher directory itself). */
enum cmk_bn_kind cmk_bn_kind(const char *entry, bool root);

/* True for a plaintext name the volume reserves: with plaintext names,
 * the names in the root that begin with CMK_VOLUME_FILE (the descriptor,
 * its copy and temporaries); with encrypted names none (no plaintext name
 * maps onto cmkfs's own). */
bool cmk_bn_reserved(bool enc_names, bool root, const char *name);
/* True for a backing entry that is no entry of the plaintext tree
 * (cmkfs's own files: hidden from listings, skipped by walks). */
bool cmk_bn_hidden(bool enc_names, bool root, const char *entry);

/* The plaintext name of the backing entry entry (a CMK_BN_NAME) of the
 * directory dir_fd whose id is dirid, into out (CMK_NAME_PLAIN_MAX + 1
 * bytes): 0; or -EBADMSG with *why saying what is wrong ("not a name of
 * this volume", "a long name whose side file is missing", ...). */
int cmk_bn_decode(struct cmk_names *names, int dir_fd,
		  const uint8_t dirid[CMK_DIRID_LEN], const char *entry,
		  char out[CMK_NAME_PLAIN_MAX + 1], const char **why);

/* The side file name of a long name entry, into out. */
void cmk_bn_side_name(const char *entry, char out[CMK_LONG_SIDE_LEN + 1]);

#endif
