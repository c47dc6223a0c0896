/* SPDX-License-Identifier: MIT */
#include "fs/backing_names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "crypto/crypto.h"
#include "crypto/format.h"

int cmk_bn_read_dirid(int dir_fd, uint8_t dirid[CMK_DIRID_LEN])
{
	uint8_t buf[CMK_DIRID_LEN + 1];
	size_t got = 0;
	int fd, ret;

	fd = cmk_open_regular(dir_fd, CMK_DIRID_FILE, O_RDONLY, NULL, NULL);
	if (fd == -ENOENT)
		return fd;
	if (fd < 0)
		return fd == -ELOOP || fd == -EINVAL ? -EBADMSG : fd;
	ret = cmk_read_full(fd, buf, sizeof(buf), 0, &got);
	close(fd);
	if (ret)
		return ret;
	if (got != CMK_DIRID_LEN)
		return -EBADMSG;
	memcpy(dirid, buf, CMK_DIRID_LEN);
	return 0;
}

int cmk_bn_new_dirid(int dir_fd, uint8_t dirid[CMK_DIRID_LEN], bool sync)
{
	int fd, ret;

	cmk_random(dirid, CMK_DIRID_LEN);
	fd = openat(dir_fd, CMK_DIRID_FILE,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (fd < 0)
		return -errno;
	ret = cmk_write_full(fd, dirid, CMK_DIRID_LEN, 0);
	if (ret == 0 && sync && fsync(fd) != 0)
		ret = -errno;
	if (close(fd) != 0 && ret == 0)
		ret = -errno;
	if (ret)
		unlinkat(dir_fd, CMK_DIRID_FILE, 0);
	return ret;
}

void cmk_bn_side_name(const char *entry, char out[CMK_LONG_SIDE_LEN + 1])
{
	snprintf(out, CMK_LONG_SIDE_LEN + 1, "%.*s%s", CMK_LONG_LEN, entry,
		 CMK_LONG_SUFFIX);
}

int cmk_bn_side_read(int dir_fd, const char *entry, char *enc, size_t *len)
{
	char side[CMK_LONG_SIDE_LEN + 1];
	size_t got = 0;
	struct stat st;
	int fd, ret;

	cmk_bn_side_name(entry, side);
	fd = cmk_open_regular(dir_fd, side, O_RDONLY, &st, NULL);
	if (fd == -ENOENT)
		return fd;
	if (fd < 0)
		return fd == -ELOOP || fd == -EINVAL ? -EBADMSG : fd;
	if (st.st_size > CMK_NAME_ENC_MAX) {
		close(fd);
		return -EBADMSG;
	}
	ret = cmk_read_full(fd, enc, CMK_NAME_ENC_MAX, 0, &got);
	close(fd);
	if (ret)
		return ret;
	enc[got] = '\0';
	if (got == 0 || cmk_name_long_check(entry, enc, got) != 0)
		return -EBADMSG;
	*len = got;
	return 0;
}

int cmk_bn_side_write(int dir_fd, const struct cmk_backing_name *bn)
{
	char have[CMK_NAME_ENC_MAX + 1];
	size_t have_len = 0;
	int fd, ret;

	if (!bn->is_long)
		return 0;
	if (cmk_bn_side_read(dir_fd, bn->name, have, &have_len) == 0 &&
	    have_len == bn->enc_len && memcmp(have, bn->enc, bn->enc_len) == 0)
		return 0;
	/* A damaged one is replaced: its content is determined. */
	unlinkat(dir_fd, bn->side, 0);
	fd = openat(dir_fd, bn->side,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0)
		return -errno;
	ret = cmk_write_full(fd, bn->enc, bn->enc_len, 0);
	if (close(fd) != 0 && ret == 0)
		ret = -errno;
	if (ret)
		unlinkat(dir_fd, bn->side, 0);
	return ret;
}

void cmk_bn_side_drop(int dir_fd, const struct cmk_backing_name *bn)
{
	if (bn->is_long)
		unlinkat(dir_fd, bn->side, 0);
}

int cmk_bn_link_write(int root_fd, const char *marker, const char *enc,
		      size_t enc_len)
{
	int fd, dir_fd, ret;

	fd = openat(root_fd, marker,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0)
		return -errno; /* EEXIST: the nonce makes every one unique */
	ret = cmk_write_full(fd, enc, enc_len, 0);
	/* Durable before the symlink that needs it can be. */
	if (ret == 0 && fsync(fd) != 0)
		ret = -errno;
	if (close(fd) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0) {
		dir_fd = openat(root_fd, ".",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir_fd < 0 || fsync(dir_fd) != 0)
			ret = -errno;
		if (dir_fd >= 0)
			close(dir_fd);
	}
	if (ret)
		unlinkat(root_fd, marker, 0);
	return ret;
}

int cmk_bn_link_read(int root_fd, const char *marker, char *enc, size_t *len)
{
	size_t got = 0;
	struct stat st;
	int fd, ret;

	if (cmk_symlink_marker_plain_len(marker, strlen(marker)) < 0)
		return -EBADMSG;
	fd = cmk_open_regular(root_fd, marker, O_RDONLY, &st, NULL);
	if (fd == -ENOENT)
		return fd;
	if (fd < 0)
		return fd == -ELOOP || fd == -EINVAL ? -EBADMSG : fd;
	if (st.st_size > CMK_SYMLINK_ENC_MAX) {
		close(fd);
		return -EBADMSG;
	}
	ret = cmk_read_full(fd, enc, CMK_SYMLINK_ENC_MAX, 0, &got);
	close(fd);
	if (ret)
		return ret;
	enc[got] = '\0';
	if (cmk_symlink_marker_check(marker, enc, got) != 0)
		return -EBADMSG;
	*len = got;
	return 0;
}

void cmk_bn_link_drop(int root_fd, const char *marker)
{
	if (cmk_symlink_marker_plain_len(marker, strlen(marker)) > 0)
		unlinkat(root_fd, marker, 0);
}

bool cmk_bn_link_marker(int dir_fd, const char *entry, const struct stat *st,
			char marker[CMK_SYMLINK_MARKER_LEN + 1])
{
	ssize_t n;

	if (!S_ISLNK(st->st_mode) || st->st_size != CMK_SYMLINK_MARKER_LEN)
		return false;
	n = readlinkat(dir_fd, entry, marker, CMK_SYMLINK_MARKER_LEN + 1);
	if (n != CMK_SYMLINK_MARKER_LEN)
		return false;
	marker[n] = '\0';
	return cmk_symlink_marker_plain_len(marker, (size_t)n) > 0;
}

enum cmk_bn_kind cmk_bn_kind(const char *entry, bool root)
{
	size_t len = strlen(entry);

	if (root &&
	    strncmp(entry, CMK_VOLUME_FILE, strlen(CMK_VOLUME_FILE)) == 0)
		return CMK_BN_VOLUME;
	if (!cmk_name_is_special(entry))
		return CMK_BN_NAME;
	if (strcmp(entry, CMK_DIRID_FILE) == 0)
		return CMK_BN_DIRID;
	if (root && cmk_symlink_marker_plain_len(entry, len) > 0)
		return CMK_BN_LINK;
	if (len == CMK_LONG_SIDE_LEN &&
	    strcmp(entry + CMK_LONG_LEN, CMK_LONG_SUFFIX) == 0) {
		char base[CMK_LONG_LEN + 1];

		memcpy(base, entry, CMK_LONG_LEN);
		base[CMK_LONG_LEN] = '\0';
		if (cmk_name_is_long(base))
			return CMK_BN_SIDE;
	}
	return CMK_BN_OTHER;
}

bool cmk_bn_reserved(bool enc_names, bool root, const char *name)
{
	return !enc_names && root &&
	       strncmp(name, CMK_VOLUME_FILE, strlen(CMK_VOLUME_FILE)) == 0;
}

bool cmk_bn_hidden(bool enc_names, bool root, const char *entry)
{
	if (enc_names)
		return cmk_bn_kind(entry, root) != CMK_BN_NAME;
	return cmk_bn_reserved(false, root, entry);
}

int cmk_bn_decode(struct cmk_names *names, int dir_fd,
		  const uint8_t dirid[CMK_DIRID_LEN], const char *entry,
		  char out[CMK_NAME_PLAIN_MAX + 1], const char **why)
{
	char enc[CMK_NAME_ENC_MAX + 1];
	size_t enc_len;
	int ret;

	if (cmk_name_is_long(entry)) {
		ret = cmk_bn_side_read(dir_fd, entry, enc, &enc_len);
		if (ret == -ENOENT) {
			*why = "a long name whose side file is missing";
			return -EBADMSG;
		}
		if (ret) {
			*why = "a long name whose side file is damaged or "
			       "another name's";
			return -EBADMSG;
		}
	} else {
		enc_len = strlen(entry);
		if (enc_len > CMK_NAME_ENC_MAX) {
			*why = "not a name of this volume";
			return -EBADMSG;
		}
		memcpy(enc, entry, enc_len + 1);
	}
	if (cmk_name_decrypt(names, dirid, enc, enc_len, out,
			     CMK_NAME_PLAIN_MAX + 1) < 0) {
		*why = "not a name of this volume (tampered, or copied from "
		       "another directory or volume)";
		return -EBADMSG;
	}
	return 0;
}
