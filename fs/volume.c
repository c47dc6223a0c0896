/* SPDX-License-Identifier: MIT */
#include "fs/volume.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/io.h"
#include "common/log.h"
#include "fs/backing_names.h"

int cmk_volume_load_keyring(struct cmk_kms *kms, struct cmk_keyring *kr,
			    struct cmk_err *err)
{
	struct cmk_kms_version *versions = NULL;
	char newest[CMK_VERSION_MAX + 1];
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	struct cmk_err fetch_err;
	size_t count = 0;
	int ret;

	if (!cmk)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	/* The newest enabled version first: without it nothing works. */
	ret = cmk_kms_fetch(kms, NULL, cmk, newest, err);
	if (ret)
		goto out;
	ret = cmk_keyring_add(kr, newest, cmk, true);
	if (ret) {
		cmk_err_set(err, ret, "cannot hold CMK version %s", newest);
		goto out;
	}
	ret = cmk_kms_list_versions(kms, &versions, &count, err);
	if (ret)
		goto out;
	for (size_t i = 0; i < count; i++) {
		if (!versions[i].enabled || strcmp(versions[i].id, newest) == 0)
			continue;
		if (cmk_kms_fetch(kms, versions[i].id, cmk, NULL, &fetch_err)) {
			cmk_log(LOG_WARNING, CMK_MSG_KEY_REFUSED,
				"skipping CMK version %s: %s", versions[i].id,
				fetch_err.msg);
			continue;
		}
		ret = cmk_keyring_add(kr, versions[i].id, cmk, false);
		if (ret) {
			cmk_err_set(err, ret, "cannot hold CMK version %s",
				    versions[i].id);
			goto out;
		}
	}
out:
	free(versions);
	cmk_secure_free(cmk, CMK_KEY_LEN);
	return ret;
}

/* Replaces one descriptor copy atomically (cmk_replace_file()). */
static int write_copy(int dir_fd, const char *dir_path, const char *name,
		      const uint8_t *buf, struct cmk_err *err)
{
	return cmk_replace_file(dir_fd, dir_path, name, buf, CMK_VOLUME_SIZE,
				0600, false, err);
}

/* Writes both copies of the descriptor, the primary first: a crash
 * between them leaves two copies that each verify, the primary newer. */
static int write_descriptor(int dir_fd, const char *dir_path,
			    const uint8_t *buf, struct cmk_err *err)
{
	int ret = write_copy(dir_fd, dir_path, CMK_VOLUME_FILE, buf, err);

	if (ret == 0)
		ret = cmk_fault("descriptor.primary");
	if (ret == 0)
		ret = write_copy(dir_fd, dir_path, CMK_VOLUME_BACKUP, buf, err);
	return ret;
}

int cmk_volume_write_copy(struct cmk_volume *vol, int which,
			  struct cmk_err *err)
{
	int dir_fd, ret;

	/* vol->dir_fd is O_PATH: fsync needs a real descriptor. */
	dir_fd = openat(vol->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return cmk_err_set(err, -errno, "%s: %s", vol->path,
				   strerror(errno));
	ret = write_copy(dir_fd, vol->path,
			 which == 0 ? CMK_VOLUME_FILE : CMK_VOLUME_BACKUP,
			 vol->descriptor, err);
	close(dir_fd);
	return ret;
}

static int dir_is_empty(int dir_fd, const char *path, struct cmk_err *err)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *dir;
	int ret = 0;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		return cmk_err_set(err, ret, "%s: %s", path, strerror(-ret));
	}
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			ret = cmk_err_set(err, -ENOTEMPTY,
					  "%s is not empty (it holds '%s'); "
					  "init needs an empty directory",
					  path, de->d_name);
			break;
		}
	}
	closedir(dir);
	return ret;
}

static void env_set_wrapped(struct cmk_envelope *e,
			    const struct cmk_kms_wrapped *w);
static int env_unlock(struct cmk_volume *vol, struct cmk_err *err);
static void env_remember_held(struct cmk_volume *vol);

static int volume_init(const struct cmk_conf *conf, const char *cipherdir,
		       bool enc_names, char version_out[CMK_VERSION_MAX + 1],
		       struct cmk_err *err)
{
	uint8_t dirid[CMK_DIRID_LEN];
	struct cmk_volume_info vi;
	uint8_t buf[CMK_VOLUME_SIZE];
	struct cmk_kms *kms = NULL;
	uint8_t *keys = NULL, *cmk, *name_key;
	int dir_fd = -1;
	int ret;

	if (mkdir(cipherdir, 0700) != 0 && errno != EEXIST)
		return cmk_err_set(err, -errno, "%s: cannot create: %s",
				   cipherdir, strerror(errno));
	dir_fd = open(cipherdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return cmk_err_set(err, -errno, "%s: %s", cipherdir,
				   strerror(errno));
	ret = dir_is_empty(dir_fd, cipherdir, err);
	if (ret)
		goto out;
	ret = cmk_kms_open(conf, &kms, err);
	if (ret)
		goto out;
	keys = cmk_secure_alloc(2 * CMK_KEY_LEN);
	if (!keys) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	cmk = keys;
	name_key = keys + CMK_KEY_LEN;
	if (cmk_kms_envelope(kms)) {
		/* The volume key: random, wrapped by the key service, which
		 * never hands out the CMK. */
		struct cmk_kms_wrapped *w = malloc(sizeof(*w));

		if (!w) {
			ret = cmk_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		cmk_random(cmk, CMK_KEY_LEN);
		ret = cmk_kms_wrap(kms, cmk, w, err);
		if (ret == 0) {
			cmk_volume_info_new(&vi, cmk_kms_key_name(kms),
					    CMK_VK_FIRST);
			vi.flags |= CMK_VOLUME_FLAG_ENVELOPE;
			vi.envelopes[0].used = true;
			strcpy(vi.envelopes[0].vk_id, CMK_VK_FIRST);
			env_set_wrapped(&vi.envelopes[0], w);
			strcpy(version_out, w->version);
		}
		free(w);
	} else {
		ret = cmk_kms_fetch(kms, NULL, cmk, version_out, err);
		if (ret == 0)
			cmk_volume_info_new(&vi, cmk_kms_key_name(kms),
					    version_out);
	}
	if (ret)
		goto out;
	if (enc_names) {
		vi.flags |= CMK_VOLUME_FLAG_ENC_NAMES;
		cmk_random(name_key, CMK_KEY_LEN);
	}
	ret = cmk_volume_create(buf, &vi, cmk, enc_names ? name_key : NULL);
	if (ret) {
		cmk_err_set(err, ret,
			    "cannot encode the volume descriptor "
			    "(key name '%s')",
			    cmk_kms_key_name(kms));
		goto out;
	}
	/* The root's directory id before the descriptor: a volume never
	 * exists without it. */
	if (enc_names) {
		ret = cmk_bn_new_dirid(dir_fd, dirid, true);
		if (ret == 0 && fsync(dir_fd) != 0)
			ret = -errno;
		if (ret) {
			cmk_err_set(err, ret, "%s/%s: %s", cipherdir,
				    CMK_DIRID_FILE, strerror(-ret));
			goto out;
		}
	}
	ret = write_descriptor(dir_fd, cipherdir, buf, err);
	if (ret) {
		unlinkat(dir_fd, CMK_VOLUME_FILE, 0);
		if (enc_names)
			unlinkat(dir_fd, CMK_DIRID_FILE, 0);
	}
out:
	cmk_secure_free(keys, 2 * CMK_KEY_LEN);
	cmk_kms_close(kms);
	if (dir_fd >= 0)
		close(dir_fd);
	return ret;
}

/* Reads and parses one descriptor copy into vol->copies[which]. */
static void read_copy(struct cmk_volume *vol, int which)
{
	struct cmk_volume_copy *c = &vol->copies[which];
	const char *name = which == 0 ? CMK_VOLUME_FILE : CMK_VOLUME_BACKUP;
	uint8_t buf[CMK_VOLUME_SIZE + 1];
	struct cmk_err err = { 0 };
	struct stat st;
	size_t got = 0;
	int fd, ret;

	fd = cmk_open_regular(vol->dir_fd, name, O_RDONLY, &st, &err);
	if (fd < 0) {
		c->state = fd;
		snprintf(c->problem, sizeof(c->problem), "%s",
			 fd == -ENOENT ? "missing" : err.msg);
		return;
	}
	if (st.st_size != CMK_VOLUME_SIZE) {
		close(fd);
		c->state = -EBADMSG;
		snprintf(c->problem, sizeof(c->problem),
			 "%lld bytes long, where a descriptor has %d",
			 (long long)st.st_size, CMK_VOLUME_SIZE);
		return;
	}
	ret = cmk_read_full(fd, buf, sizeof(buf), 0, &got);
	close(fd);
	if (ret) {
		c->state = ret;
		snprintf(c->problem, sizeof(c->problem), "%s", strerror(-ret));
		return;
	}
	ret = cmk_volume_parse(buf, got, &c->info, &err);
	c->state = ret;
	if (ret) {
		snprintf(c->problem, sizeof(c->problem), "%s", err.msg);
		return;
	}
	memcpy(c->bytes, buf, CMK_VOLUME_SIZE);
}

/* Makes copy which the one in use. */
static void use_copy(struct cmk_volume *vol, int which)
{
	vol->used_copy = which;
	vol->info = vol->copies[which].info;
	memcpy(vol->descriptor, vol->copies[which].bytes, CMK_VOLUME_SIZE);
}

/* Reads both copies and uses the first that parses: 0, or the primary's
 * error when neither does. */
static int read_descriptor(struct cmk_volume *vol, struct cmk_err *err)
{
	struct cmk_volume_copy *primary = &vol->copies[0];

	read_copy(vol, 0);
	read_copy(vol, 1);
	if (primary->state == 0) {
		use_copy(vol, 0);
		return 0;
	}
	if (vol->copies[1].state == 0) {
		use_copy(vol, 1);
		cmk_log(LOG_WARNING, CMK_MSG_GENERAL,
			"%s/%s: %s; using its copy %s (cmkfs fsck --repair "
			"restores it)",
			vol->path, CMK_VOLUME_FILE, primary->problem,
			CMK_VOLUME_BACKUP);
		return 0;
	}
	if (primary->state == -ENOENT)
		return cmk_err_set(err, -ENOENT,
				   "%s is not a cmkfs volume (no %s; create "
				   "one with cmkfs init)",
				   vol->path, CMK_VOLUME_FILE);
	return cmk_err_set(err,
			   primary->state == -EPROTONOSUPPORT ? -EPROTONOSUPPORT
							      : -EBADMSG,
			   "%s/%s: %s", vol->path, CMK_VOLUME_FILE,
			   primary->problem);
}

/* A fault of the volume unless a key service's (set inside) or the wrong
 * key's. */
static int vol_cat(struct cmk_err *err, int ret)
{
	return cmk_err_cat(
		err, ret == -EKEYREJECTED ? CMK_CAT_WRONG_KEY : CMK_CAT_VOLUME,
		ret);
}

int cmk_volume_init(const struct cmk_conf *conf, const char *cipherdir,
		    bool enc_names, char version_out[CMK_VERSION_MAX + 1],
		    struct cmk_err *err)
{
	return vol_cat(err, volume_init(conf, cipherdir, enc_names, version_out,
					err));
}

static int volume_peek(const struct cmk_conf *conf, const char *cipherdir,
		       struct cmk_volume **out, struct cmk_err *err);

int cmk_volume_peek(const struct cmk_conf *conf, const char *cipherdir,
		    struct cmk_volume **out, struct cmk_err *err)
{
	return vol_cat(err, volume_peek(conf, cipherdir, out, err));
}

static int volume_peek(const struct cmk_conf *conf, const char *cipherdir,
		       struct cmk_volume **out, struct cmk_err *err)
{
	struct cmk_volume *vol;
	int ret;

	vol = calloc(1, sizeof(*vol));
	if (!vol)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&vol->fetch_lock, NULL);
	snprintf(vol->path, sizeof(vol->path), "%s", cipherdir);
	vol->dir_fd = open(cipherdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (vol->dir_fd < 0) {
		int open_errno = errno > 0 ? errno : EIO;

		ret = cmk_err_set(err, -open_errno, "%s: %s", cipherdir,
				  strerror(open_errno));
		goto fail;
	}
	/* The descriptor first: a directory that is no volume needs no key. */
	ret = read_descriptor(vol, err);
	if (ret)
		goto fail;
	ret = cmk_kms_open(conf, &vol->kms, err);
	if (ret)
		goto fail;
	vol->unreachable_grace = conf->unreachable_grace;
	vol->recheck_interval = conf->recheck_interval;
	if (cmk_volume_is_envelope(vol) != cmk_kms_envelope(vol->kms)) {
		ret = cmk_err_set(err, -EKEYREJECTED,
				  cmk_volume_is_envelope(vol)
					  ? "%s: the volume key is wrapped by "
					    "a key service key, but %s names a "
					    "secret ('%s')"
					  : "%s: the volume's CMK is a secret, "
					    "but %s names a key that wraps "
					    "('%s')",
				  cipherdir, conf->path,
				  cmk_kms_key_name(vol->kms));
		goto fail;
	}
	if (strcmp(vol->info.cmk_name, cmk_kms_key_name(vol->kms)) != 0) {
		ret = cmk_err_set(err, -EKEYREJECTED,
				  "%s belongs to key '%s', but %s names key "
				  "'%s'",
				  cipherdir, vol->info.cmk_name, conf->path,
				  cmk_kms_key_name(vol->kms));
		goto fail;
	}
	ret = cmk_keyring_new(&vol->keyring);
	if (ret) {
		cmk_err_set(err, ret, "out of memory");
		goto fail;
	}
	*out = vol;
	return 0;
fail:
	cmk_volume_close(vol);
	return ret;
}

static int volume_fetch_missing(struct cmk_volume *vol, const char *version,
				struct cmk_err *err);

/* The CMK of version into cmk: from the keyring, else fetched on demand. */
static int volume_cmk(struct cmk_volume *vol, const char *version, uint8_t *cmk,
		      struct cmk_err *err)
{
	int ret;

	if (cmk_keyring_get(vol->keyring, version, cmk) == 0)
		return 0;
	ret = volume_fetch_missing(vol, version, err);
	if (ret == 0 && cmk_keyring_get(vol->keyring, version, cmk) != 0)
		ret = cmk_err_set(err, -ENOKEY, "CMK version %s went away",
				  version);
	return ret;
}

/* Unwraps the name key from the descriptor's active name slot and sets up
 * the name cipher. */
static int open_names(struct cmk_volume *vol, struct cmk_err *err)
{
	const char *version =
		vol->info.name_slots[vol->info.name_active].cmk_version;
	uint8_t *keys = cmk_secure_alloc(2 * CMK_KEY_LEN);
	int ret;

	if (!keys)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	ret = volume_cmk(vol, version, keys, err);
	if (ret) {
		cmk_err_prefix(err,
			       "%s: the name key is wrapped with CMK "
			       "version %s: ",
			       vol->path, version);
		goto out;
	}
	ret = cmk_volume_open_name_slot(vol->descriptor, vol->info.name_active,
					keys, keys + CMK_KEY_LEN);
	if (ret) {
		cmk_err_set(err, ret,
			    "%s/%s: the name key does not unwrap "
			    "with CMK version %s",
			    vol->path, CMK_VOLUME_FILE, version);
		goto out;
	}
	ret = cmk_names_new(keys + CMK_KEY_LEN, vol->info.volume_id,
			    &vol->names);
	if (ret)
		cmk_err_set(err, ret,
			    "cannot set up the name cipher "
			    "(AES-256-SIV)");
out:
	cmk_secure_free(keys, 2 * CMK_KEY_LEN);
	return ret;
}

/* Checks the descriptor copies with the key service's versions and uses
 * the first that verifies. Both are checked, so that a damaged one is
 * told from a wrong key: a wrong key verifies neither. */
static int verify_descriptor(struct cmk_volume *vol, struct cmk_err *err)
{
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	struct cmk_err fetch_err = { 0 };
	int found = -1, fetch_ret = 0, rejected = 0, present = 0;

	if (!cmk)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	for (int which = 0; which < CMK_VOLUME_COPIES; which++) {
		struct cmk_volume_copy *c = &vol->copies[which];
		struct cmk_err e = { 0 };
		int ret;

		if (c->state != 0)
			continue;
		present++;
		if (strcmp(c->info.cmk_name, vol->info.cmk_name) != 0) {
			c->verified = -EKEYREJECTED;
			rejected++;
			continue;
		}
		ret = volume_cmk(vol, c->info.mac_version, cmk, &e);
		if (ret == 0)
			ret = cmk_volume_verify(c->bytes, cmk);
		c->verified = ret;
		if (ret == 0 && found < 0)
			found = which;
		else if (ret == -EKEYREJECTED)
			rejected++;
		else if (ret && !fetch_ret) {
			fetch_ret = ret;
			fetch_err = e;
			cmk_err_prefix(&fetch_err,
				       "%s: the volume descriptor is sealed "
				       "with CMK version %s: ",
				       vol->path, c->info.mac_version);
		}
	}
	cmk_secure_free(cmk, CMK_KEY_LEN);
	if (found >= 0) {
		if (found != vol->used_copy || vol->copies[0].verified)
			cmk_log(LOG_WARNING, CMK_MSG_GENERAL,
				"%s/%s does not verify; using its copy %s "
				"(cmkfs fsck --repair restores it)",
				vol->path, CMK_VOLUME_FILE, CMK_VOLUME_BACKUP);
		use_copy(vol, found);
		return 0;
	}
	/* A copy that could not be checked may be the good one. */
	if (fetch_ret) {
		*err = fetch_err;
		return fetch_ret;
	}
	return cmk_err_set(err, -EKEYREJECTED,
			   "%s/%s does not verify with key '%s' version %s: "
			   "the volume was created with a different key%s",
			   vol->path, CMK_VOLUME_FILE, vol->info.cmk_name,
			   vol->info.mac_version,
			   present > 1 ? " (or both descriptor copies are "
					 "damaged)"
				       : " (or the descriptor is damaged)");
}

int cmk_volume_unlock(struct cmk_volume *vol, struct cmk_err *err)
{
	int ret;

	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): cmk_volume_peek gives a volume when it returns 0 */
	if (cmk_volume_is_envelope(vol))
		ret = env_unlock(vol, err);
	else
		ret = cmk_volume_load_keyring(vol->kms, vol->keyring, err);
	if (ret == 0)
		ret = verify_descriptor(vol, err);
	if (ret == 0 && cmk_volume_is_envelope(vol))
		env_remember_held(vol);
	if (ret == 0 && (vol->info.flags & CMK_VOLUME_FLAG_ENC_NAMES))
		ret = open_names(vol, err);
	return vol_cat(err, ret);
}

int cmk_volume_open(const struct cmk_conf *conf, const char *cipherdir,
		    struct cmk_volume **out, struct cmk_err *err)
{
	struct cmk_volume *vol = NULL;
	int ret;

	ret = cmk_volume_peek(conf, cipherdir, &vol, err);
	if (ret || !vol) /* never both 0 and NULL; the analyzer cannot tell */
		return ret ? ret : -EIO;
	ret = cmk_volume_unlock(vol, err);
	if (ret) {
		cmk_volume_close(vol);
		return ret;
	}
	*out = vol;
	return 0;
}

void cmk_volume_close(struct cmk_volume *vol)
{
	if (!vol)
		return;
	if (vol->dir_fd > 0)
		close(vol->dir_fd);
	cmk_names_free(vol->names);
	cmk_keyring_free(vol->keyring);
	cmk_kms_close(vol->kms);
	pthread_mutex_destroy(&vol->fetch_lock);
	free(vol);
}

int cmk_volume_new_file(struct cmk_volume *vol, int fd, struct cmk_xts **xts,
			char version_out[CMK_VERSION_MAX + 1],
			struct cmk_err *err)
{
	char version[CMK_VERSION_MAX + 1];
	uint8_t hdr[CMK_HEADER_SIZE];
	uint8_t file_id[CMK_ID_LEN];
	/* cmk, dek, then the random file id (not a secret: it is drawn with
	 * the dek, one call to the generator instead of two). */
	const size_t keys_len = 2 * CMK_KEY_LEN + CMK_ID_LEN;
	uint8_t *keys = cmk_secure_alloc(keys_len);
	uint8_t *cmk = keys, *dek = keys + CMK_KEY_LEN;
	size_t done = 0;
	int ret;

	if (!keys)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	ret = cmk_keyring_get_newest(vol->keyring, version, cmk);
	if (ret) {
		cmk_err_set(err, -EACCES, "no enabled CMK version is held");
		ret = -EACCES;
		goto out;
	}
	/* Equal XTS key halves (probability 2^-256) mean: draw again. */
	do {
		cmk_random(dek, CMK_KEY_LEN + CMK_ID_LEN);
		memcpy(file_id, dek + CMK_KEY_LEN, CMK_ID_LEN);
		ret = cmk_xts_for_file(dek, file_id, xts);
	} while (ret == -EINVAL);
	if (ret) {
		cmk_err_set(err, ret, "cannot set up the cipher");
		goto out;
	}
	cmk_header_init(hdr, vol->info.volume_id, file_id);
	ret = cmk_header_seal_slot(hdr, 0, 1, version, cmk, dek, NULL);
	while (ret == 0 && done < sizeof(hdr)) {
		ssize_t n =
			pwrite(fd, hdr + done, sizeof(hdr) - done, (off_t)done);

		if (n < 0 && errno != EINTR)
			ret = -errno;
		else if (n > 0)
			done += (size_t)n;
	}
	if (ret) {
		cmk_err_set(err, ret, "cannot write the header: %s",
			    strerror(-ret));
		cmk_xts_free(*xts);
		*xts = NULL;
	} else if (version_out) {
		strcpy(version_out, version);
	}
out:
	cmk_secure_free(keys, keys_len);
	return ret;
}

/* A key service that could not be asked, as opposed to one that said no. */
static bool kms_unreachable(int ret)
{
	return ret == -ETIMEDOUT || ret == -ECONNREFUSED ||
	       ret == -EHOSTUNREACH || ret == -ENOMEM || ret == -EIO;
}

/* --- envelope volumes -------------------------------------------------------
 * The key service wraps a random volume key; the keyring holds volume keys
 * under their ids ("vk1"), and the descriptor's records say how each is
 * wrapped. */

_Static_assert(CMK_KMS_VERSION_MAX == CMK_VERSION_MAX,
	       "a version id from kms/ fits the volume format");
_Static_assert(CMK_KMS_WRAPPED_MAX == CMK_ENVELOPE_BLOB_MAX &&
		       CMK_KMS_ALG_MAX == CMK_ENVELOPE_ALG_MAX,
	       "a wrapped key from kms/ fits an envelope record");

static void env_to_wrapped(const struct cmk_envelope *e,
			   struct cmk_kms_wrapped *w)
{
	memset(w, 0, sizeof(*w));
	strcpy(w->alg, e->alg);
	strcpy(w->version, e->cmk_version);
	w->len = e->blob_len;
	memcpy(w->blob, e->blob, e->blob_len);
}

static void env_set_wrapped(struct cmk_envelope *e,
			    const struct cmk_kms_wrapped *w)
{
	memset(e->blob, 0, sizeof(e->blob));
	strcpy(e->alg, w->alg);
	strcpy(e->cmk_version, w->version);
	e->blob_len = (uint16_t)w->len;
	memcpy(e->blob, w->blob, w->len);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unwraps record e into key through the key service; the message names
 * the volume key and the CMK version. */
static int env_unwrap(struct cmk_volume *vol, const struct cmk_envelope *e,
		      uint8_t *key, struct cmk_err *err)
{
	struct cmk_kms_wrapped w;
	int ret;

	env_to_wrapped(e, &w);
	ret = cmk_kms_unwrap(vol->kms, &w, key, err);
	if (ret)
		cmk_err_prefix(err,
			       "%s: volume key %s (wrapped with CMK version "
			       "%s): ",
			       vol->path, e->vk_id, e->cmk_version);
	return ret;
}

/* Remembers what volume key vk_id is (under fetch_lock, or before the
 * mount serves). */
static void env_remember(struct cmk_volume *vol, const char *vk_id,
			 const uint8_t *key)
{
	size_t i;

	for (i = 0; i < vol->n_vk_known; i++)
		if (strcmp(vol->vk_known[i].vk_id, vk_id) == 0)
			return;
	if (vol->n_vk_known == sizeof(vol->vk_known) / sizeof(vol->vk_known[0]))
		/* The oldest goes: it was replaced twice since. */
		memmove(&vol->vk_known[0], &vol->vk_known[1],
			--vol->n_vk_known * sizeof(vol->vk_known[0]));
	i = vol->n_vk_known++;
	strcpy(vol->vk_known[i].vk_id, vk_id);
	cmk_sha256(key, CMK_KEY_LEN, vol->vk_known[i].digest);
}

/* Whether key, unwrapped from record e found after the descriptor
 * verified (re-read from disk), may be used: the same key this volume
 * had under that id, or a successor linked from a key held now. */
static int env_trust(struct cmk_volume *vol, const struct cmk_envelope *e,
		     const uint8_t *key, struct cmk_err *err)
{
	uint8_t digest[CMK_SHA256_LEN], link[CMK_SHA256_LEN];
	uint8_t *old = NULL;
	int ret = -EKEYREJECTED;

	for (size_t i = 0; i < vol->n_vk_known; i++) {
		if (strcmp(vol->vk_known[i].vk_id, e->vk_id) != 0)
			continue;
		cmk_sha256(key, CMK_KEY_LEN, digest);
		if (cmk_memeq_ct(digest, vol->vk_known[i].digest,
				 CMK_SHA256_LEN))
			return 0;
		return cmk_err_set(err, -EKEYREJECTED,
				   "%s: volume key %s is not the key this "
				   "mount knew under that id (descriptor "
				   "tampered with?)",
				   vol->path, e->vk_id);
	}
	if (e->link_from[0]) {
		old = cmk_secure_alloc(CMK_KEY_LEN);
		if (old &&
		    cmk_keyring_get(vol->keyring, e->link_from, old) == 0 &&
		    cmk_envelope_link(old, e->vk_id, key, link) == 0 &&
		    cmk_memeq_ct(link, e->link, CMK_SHA256_LEN))
			ret = 0;
		cmk_secure_free(old, CMK_KEY_LEN);
	}
	if (ret == 0) {
		env_remember(vol, e->vk_id, key);
		return 0;
	}
	return cmk_err_set(err, -EKEYREJECTED,
			   "%s: volume key %s is not linked to a volume key "
			   "this mount holds",
			   vol->path, e->vk_id);
}

/* Reads and parses the descriptor from disk again (primary, else
 * backup): what `cmkfs rewrap` on this or another host wrote. */
static int env_reread(struct cmk_volume *vol, struct cmk_volume_info *vi)
{
	struct cmk_volume *tmp = calloc(1, sizeof(*tmp));
	int ret = -ENOENT;

	if (!tmp)
		return -ENOMEM;
	tmp->dir_fd = vol->dir_fd;
	for (int which = 0; which < CMK_VOLUME_COPIES && ret; which++) {
		read_copy(tmp, which);
		if (tmp->copies[which].state == 0 &&
		    memcmp(tmp->copies[which].info.volume_id,
			   vol->info.volume_id, CMK_ID_LEN) == 0 &&
		    (tmp->copies[which].info.flags &
		     CMK_VOLUME_FLAG_ENVELOPE)) {
			*vi = tmp->copies[which].info;
			ret = 0;
		}
	}
	free(tmp);
	return ret;
}

/* The record of volume key vk_id: in the descriptor as read, in either
 * copy, or (after unlocking) in the descriptor on disk now. */
static bool env_find(struct cmk_volume *vol, const char *vk_id,
		     struct cmk_envelope *out, bool *from_disk)
{
	const struct cmk_envelope *e = cmk_volume_envelope(&vol->info, vk_id);
	struct cmk_volume_info *vi;
	bool found = false;

	*from_disk = false;
	for (int which = 0; !e && which < CMK_VOLUME_COPIES; which++)
		if (vol->copies[which].state == 0)
			e = cmk_volume_envelope(&vol->copies[which].info,
						vk_id);
	if (e) {
		*out = *e;
		return true;
	}
	vi = malloc(sizeof(*vi));
	if (vi && env_reread(vol, vi) == 0 &&
	    (e = cmk_volume_envelope(vi, vk_id))) {
		*out = *e;
		*from_disk = true;
		found = true;
	}
	free(vi);
	return found;
}

/* volume_fetch_missing() for an envelope volume, under fetch_lock:
 * unwraps the record of vk_id into the keyring. */
static int env_fetch(struct cmk_volume *vol, const char *vk_id, uint8_t *key,
		     struct cmk_err *err)
{
	struct cmk_envelope *e = malloc(sizeof(*e));
	bool from_disk;
	int ret;

	if (!e)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	if (!env_find(vol, vk_id, e, &from_disk)) {
		free(e);
		return cmk_err_set(err, -ENOKEY,
				   "%s: no volume key %s in the descriptor",
				   vol->path, vk_id);
	}
	ret = env_unwrap(vol, e, key, err);
	if (ret == 0 && (from_disk || vol->n_vk_known))
		ret = env_trust(vol, e, key, err);
	if (ret == 0)
		ret = cmk_keyring_add(vol->keyring, vk_id, key, false);
	free(e);
	return ret;
}

/* cmk_volume_unlock() for an envelope volume: one unwrap per record. The
 * one that seals the descriptor must work; the other (a volume key being
 * replaced) is skipped with a warning. Then says when the key service has
 * a newer CMK version than the one in use. */
static int env_unlock(struct cmk_volume *vol, struct cmk_err *err)
{
	struct cmk_kms_version *versions = NULL;
	uint8_t *key = cmk_secure_alloc(CMK_KEY_LEN);
	struct cmk_err e_err;
	const struct cmk_envelope *cur = NULL;
	size_t count = 0;
	int ret = 0;

	if (!key)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	for (int i = 0; i < CMK_ENVELOPE_COUNT && ret == 0; i++) {
		const struct cmk_envelope *e = &vol->info.envelopes[i];
		bool is_mac = e->used &&
			      strcmp(e->vk_id, vol->info.mac_version) == 0;

		if (!e->used)
			continue;
		cmk_err_clear(&e_err);
		ret = env_unwrap(vol, e, key, &e_err);
		if (ret && !is_mac) {
			cmk_log(LOG_WARNING, CMK_MSG_KEY_REFUSED, "%s",
				e_err.msg);
			ret = 0;
			continue;
		}
		if (ret) {
			*err = e_err;
			break;
		}
		if (is_mac)
			cur = e;
		ret = cmk_keyring_add(vol->keyring, e->vk_id, key, is_mac);
		if (ret)
			cmk_err_set(err, ret, "cannot hold volume key %s",
				    e->vk_id);
	}
	cmk_secure_free(key, CMK_KEY_LEN);
	if (ret || !cur)
		return ret;
	/* One listing, to say when a rewrap is due (not an error). */
	cmk_err_clear(&e_err);
	if (cmk_kms_list_versions(vol->kms, &versions, &count, &e_err) == 0) {
		for (size_t k = 0; k < count; k++) {
			if (!versions[k].enabled)
				continue;
			if (strcmp(versions[k].id, cur->cmk_version) != 0)
				cmk_log(LOG_NOTICE, CMK_MSG_GENERAL,
					"%s: CMK version %s is newer than "
					"version %s, which wraps the volume "
					"key: a rewrap is due (cmkfs rewrap)",
					vol->path, versions[k].id,
					cur->cmk_version);
			break;
		}
	}
	free(versions);
	return 0;
}

/* After the descriptor verified: what each held volume key is. */
static void env_remember_held(struct cmk_volume *vol)
{
	uint8_t *key = cmk_secure_alloc(CMK_KEY_LEN);

	for (int i = 0; key && i < CMK_ENVELOPE_COUNT; i++) {
		const struct cmk_envelope *e = &vol->info.envelopes[i];

		if (e->used &&
		    cmk_keyring_get(vol->keyring, e->vk_id, key) == 0)
			env_remember(vol, e->vk_id, key);
	}
	cmk_secure_free(key, CMK_KEY_LEN);
}

/* cmk_volume_recheck() for an envelope volume: unwraps every record of
 * the descriptor as it is on disk now (a rewrap may have moved it to
 * another CMK version). A refusal wipes that volume key; a service that
 * cannot be reached changes nothing until unreachable_grace has passed
 * since the last answer, then wipes every key. */
static int env_recheck(struct cmk_volume *vol, size_t *revoked,
		       struct cmk_err *err)
{
	struct cmk_volume_info *vi = malloc(sizeof(*vi));
	uint8_t *key = cmk_secure_alloc(CMK_KEY_LEN);
	struct cmk_err e_err, unreach_err = { 0 };
	bool answered = false, unreachable = false;
	int ret = 0;

	if (!vi || !key) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (env_reread(vol, vi) != 0)
		*vi = vol->info;
	for (int i = 0; i < CMK_ENVELOPE_COUNT; i++) {
		const struct cmk_envelope *e = &vi->envelopes[i];
		bool is_mac = e->used && strcmp(e->vk_id, vi->mac_version) == 0;
		int r;

		if (!e->used)
			continue;
		cmk_err_clear(&e_err);
		r = env_unwrap(vol, e, key, &e_err);
		if (r && kms_unreachable(r)) {
			unreachable = true;
			unreach_err = e_err;
			continue;
		}
		answered = true;
		pthread_mutex_lock(&vol->fetch_lock);
		if (r == 0)
			r = env_trust(vol, e, key, &e_err);
		if (r) {
			if (cmk_keyring_remove(vol->keyring, e->vk_id) == 0) {
				(*revoked)++;
				cmk_log(LOG_WARNING, CMK_MSG_KEY_REVOKED,
					"%s: wiped from memory, its files "
					"give EACCES",
					e_err.msg);
			}
		} else if (!cmk_keyring_has(vol->keyring, e->vk_id)) {
			if (cmk_keyring_add(vol->keyring, e->vk_id, key,
					    is_mac) == 0)
				cmk_log(LOG_NOTICE, CMK_MSG_KEY_FETCHED,
					"%s: volume key %s unwraps again "
					"(CMK version %s): held again",
					vol->path, e->vk_id, e->cmk_version);
		} else if (is_mac) {
			cmk_keyring_set_newest(vol->keyring, e->vk_id);
		}
		pthread_mutex_unlock(&vol->fetch_lock);
	}
	pthread_mutex_lock(&vol->fetch_lock);
	memcpy(vol->info.envelopes, vi->envelopes, sizeof(vi->envelopes));
	strcpy(vol->info.mac_version, vi->mac_version);
	vol->n_refused = 0;
	if (answered || !unreachable) {
		vol->unreachable_since = 0;
	} else {
		int64_t now = mono_ms();
		char ids[CMK_ENVELOPE_COUNT][CMK_VERSION_MAX + 1];
		size_t n;

		if (!vol->unreachable_since)
			vol->unreachable_since = now;
		if (now - vol->unreachable_since >
		    (int64_t)vol->unreachable_grace * 1000) {
			n = cmk_keyring_versions(vol->keyring, ids,
						 CMK_ENVELOPE_COUNT);
			for (size_t k = 0; k < n; k++)
				if (cmk_keyring_remove(vol->keyring, ids[k]) ==
				    0)
					(*revoked)++;
			if (n)
				cmk_log(LOG_ERR, CMK_MSG_KEY_REVOKED,
					"%s: the key service has not answered "
					"for more than unreachable_grace (%u "
					"s): every volume key wiped (%s)",
					vol->path, vol->unreachable_grace,
					unreach_err.msg);
		} else {
			ret = cmk_err_set(
				err, -EHOSTUNREACH,
				"%s (keys kept: %lld of %u s of "
				"unreachable_grace left)",
				unreach_err.msg,
				(long long)(vol->unreachable_grace -
					    (now - vol->unreachable_since) /
						    1000),
				vol->unreachable_grace);
		}
	}
	pthread_mutex_unlock(&vol->fetch_lock);
out:
	cmk_secure_free(key, CMK_KEY_LEN);
	free(vi);
	return ret;
}

/* Writes buf as the descriptor (both copies) and takes it as the
 * volume's. */
static int volume_replace_descriptor(struct cmk_volume *vol, const uint8_t *buf,
				     struct cmk_err *err)
{
	/* vol->dir_fd is O_PATH: fsync needs a real descriptor. */
	int dir_fd =
		openat(vol->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (dir_fd < 0)
		return cmk_err_set(err, -errno, "%s: %s", vol->path,
				   strerror(errno));
	ret = write_descriptor(dir_fd, vol->path, buf, err);
	if (ret == 0) {
		memcpy(vol->descriptor, buf, CMK_VOLUME_SIZE);
		cmk_volume_parse(buf, CMK_VOLUME_SIZE, &vol->info, NULL);
	}
	close(dir_fd);
	return ret;
}

/* Writes the descriptor with vi's fields (its envelope records), sealed
 * by vi's MAC key, and takes it as the volume's. */
static int env_write(struct cmk_volume *vol, const struct cmk_volume_info *vi,
		     struct cmk_err *err)
{
	uint8_t buf[CMK_VOLUME_SIZE];
	uint8_t *key = cmk_secure_alloc(CMK_KEY_LEN);
	int ret;

	if (!key)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	memcpy(buf, vol->descriptor, CMK_VOLUME_SIZE);
	ret = cmk_keyring_get(vol->keyring, vi->mac_version, key);
	if (ret == 0)
		ret = cmk_volume_encode_fields(buf, vi);
	if (ret == 0)
		ret = cmk_volume_mac(buf, key);
	if (ret) {
		cmk_err_set(err, ret, "cannot encode the volume descriptor");
		goto out;
	}
	ret = volume_replace_descriptor(vol, buf, err);
out:
	cmk_secure_free(key, CMK_KEY_LEN);
	cmk_cleanse(buf, sizeof(buf));
	return ret;
}

int cmk_volume_rewrap_envelope(struct cmk_volume *vol,
			       enum cmk_rewrap_outcome *outcome,
			       char version[CMK_VERSION_MAX + 1],
			       struct cmk_err *err)
{
	struct cmk_volume_info *vi = malloc(sizeof(*vi));
	struct cmk_kms_wrapped *in = malloc(2 * sizeof(*in)), *out = in + 1;
	bool changed = false;
	int ret = 0;

	*outcome = CMK_REWRAP_CURRENT;
	if (!vi || !in) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*vi = vol->info;
	for (int i = 0; i < CMK_ENVELOPE_COUNT; i++) {
		struct cmk_envelope *e = &vi->envelopes[i];

		if (!e->used)
			continue;
		env_to_wrapped(e, in);
		ret = cmk_kms_rewrap(vol->kms, in, out, err);
		if (ret) {
			cmk_err_prefix(err,
				       "%s: volume key %s (wrapped with CMK "
				       "version %s): ",
				       vol->path, e->vk_id, e->cmk_version);
			goto out;
		}
		if (strcmp(e->vk_id, vi->mac_version) == 0)
			strcpy(version, out->version);
		if (strcmp(out->version, e->cmk_version) == 0)
			continue;
		env_set_wrapped(e, out);
		changed = true;
	}
	if (changed) {
		ret = env_write(vol, vi, err);
		if (ret == 0)
			*outcome = CMK_REWRAP_DONE;
	}
out:
	free(in);
	free(vi);
	return ret;
}

/* The record that seals the descriptor, and the other one (NULL when
 * there is none). */
static void env_records(struct cmk_volume_info *vi, struct cmk_envelope **mac,
			struct cmk_envelope **other)
{
	*mac = NULL;
	*other = NULL;
	for (int i = 0; i < CMK_ENVELOPE_COUNT; i++) {
		struct cmk_envelope *e = &vi->envelopes[i];

		if (!e->used)
			continue;
		if (strcmp(e->vk_id, vi->mac_version) == 0)
			*mac = e;
		else
			*other = e;
	}
}

int cmk_volume_vk_state(struct cmk_volume *vol, enum cmk_vk_step *step,
			char vk_id[CMK_VERSION_MAX + 1], struct cmk_err *err)
{
	struct cmk_envelope *mac, *other;

	env_records(&vol->info, &mac, &other);
	if (!mac)
		return cmk_err_set(err, -EBADMSG,
				   "%s: no envelope record for the volume key "
				   "%s that seals the descriptor",
				   vol->path, vol->info.mac_version);
	if (!other) {
		*step = CMK_VK_NEW;
		vk_id[0] = '\0';
		return 0;
	}
	strcpy(vk_id, other->vk_id);
	if (strcmp(other->link_from, mac->vk_id) != 0) {
		struct stat st;
		time_t wait = 2 * (time_t)vol->recheck_interval + 5;

		*step = CMK_VK_DRAIN;
		if (vol->recheck_interval == 0)
			return cmk_err_set(
				err, -EAGAIN,
				"%s: volume key %s may still make new files in "
				"mounts that never re-read the descriptor "
				"(recheck_interval = 0): remount every mount, "
				"then run this with a configuration whose "
				"recheck_interval is theirs",
				vol->path, vk_id);
		if (fstatat(vol->dir_fd, CMK_VOLUME_FILE, &st, 0) != 0)
			return cmk_err_set(err, -errno, "%s/%s: %s", vol->path,
					   CMK_VOLUME_FILE, strerror(errno));
		if (time(NULL) - st.st_mtime < wait)
			return cmk_err_set(
				err, -EAGAIN,
				"%s: volume key %s was replaced %lld s ago; "
				"mounts make new files with its successor "
				"once they re-read the descriptor (every "
				"recheck_interval, %u s): run this again in "
				"%lld s",
				vol->path, vk_id,
				(long long)(time(NULL) - st.st_mtime),
				vol->recheck_interval,
				(long long)(wait - (time(NULL) - st.st_mtime)));
		return 0;
	}
	/* A replacement under way: its key was unwrapped at unlock (from a
	 * descriptor that verified) or the unwrap failed there. */
	*step = CMK_VK_MOVE;
	if (cmk_keyring_set_newest(vol->keyring, vk_id) != 0)
		return cmk_err_set(err, -EACCES,
				   "%s: volume key %s, which is replacing "
				   "%s, could not be unwrapped (see the "
				   "warning above)",
				   vol->path, vk_id, mac->vk_id);
	return 0;
}

int cmk_volume_vk_drop(struct cmk_volume *vol, const char *vk_id,
		       struct cmk_err *err)
{
	struct cmk_volume_info *vi = malloc(sizeof(*vi));
	struct cmk_envelope *mac, *other;
	bool names = vol->info.flags & CMK_VOLUME_FLAG_ENC_NAMES;
	int ret;

	if (!vi)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	*vi = vol->info;
	env_records(vi, &mac, &other);
	if (!mac || !other || strcmp(other->vk_id, vk_id) != 0 ||
	    (names &&
	     strcmp(vi->name_slots[vi->name_active].cmk_version, vk_id) == 0)) {
		free(vi);
		return cmk_err_set(err, -EINVAL,
				   "%s: volume key %s is still in use by the "
				   "descriptor",
				   vol->path, vk_id);
	}
	memset(other, 0, sizeof(*other));
	ret = env_write(vol, vi, err);
	if (ret == 0)
		(void)cmk_keyring_remove(vol->keyring, vk_id);
	free(vi);
	return ret;
}

int cmk_volume_vk_add(struct cmk_volume *vol, char vk_id[CMK_VERSION_MAX + 1],
		      char version[CMK_VERSION_MAX + 1], struct cmk_err *err)
{
	struct cmk_volume_info *vi = malloc(sizeof(*vi));
	struct cmk_kms_wrapped *w = malloc(sizeof(*w));
	uint8_t *keys = cmk_secure_alloc(2 * CMK_KEY_LEN);
	uint8_t *old_key = keys, *new_key = keys + CMK_KEY_LEN;
	struct cmk_envelope *mac, *other, *e = NULL;
	unsigned long n, highest = 0;
	int ret;

	if (!vi || !w || !keys) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*vi = vol->info;
	env_records(vi, &mac, &other);
	if (!mac || other) {
		ret = cmk_err_set(err, -EBUSY,
				  "%s: the descriptor already holds two "
				  "volume keys",
				  vol->path);
		goto out;
	}
	/* The next id: one more than the highest "vkN" in the records. */
	for (int i = 0; i < CMK_ENVELOPE_COUNT; i++) {
		const char *id = vi->envelopes[i].vk_id;

		if (!vi->envelopes[i].used)
			e = &vi->envelopes[i];
		else if (strncmp(id, "vk", 2) == 0 &&
			 (n = strtoul(id + 2, NULL, 10)) > highest)
			highest = n;
	}
	if (!e) {
		ret = cmk_err_set(err, -EBUSY, "%s: no free envelope record",
				  vol->path);
		goto out;
	}
	snprintf(vk_id, CMK_VERSION_MAX + 1, "vk%lu", highest + 1);
	ret = cmk_keyring_get(vol->keyring, mac->vk_id, old_key);
	if (ret) {
		cmk_err_set(err, -EACCES, "%s: volume key %s is not held",
			    vol->path, mac->vk_id);
		goto out;
	}
	cmk_random(new_key, CMK_KEY_LEN);
	ret = cmk_kms_wrap(vol->kms, new_key, w, err);
	if (ret) {
		cmk_err_prefix(err, "%s: new volume key %s: ", vol->path,
			       vk_id);
		goto out;
	}
	memset(e, 0, sizeof(*e));
	e->used = true;
	snprintf(e->vk_id, sizeof(e->vk_id), "%s", vk_id);
	env_set_wrapped(e, w);
	snprintf(e->link_from, sizeof(e->link_from), "%s", mac->vk_id);
	ret = cmk_envelope_link(old_key, vk_id, new_key, e->link);
	if (ret) {
		cmk_err_set(err, ret, "cannot link the new volume key");
		goto out;
	}
	/* In the keyring before the descriptor names it, newest only after:
	 * every header written from here on uses it. */
	ret = cmk_keyring_add(vol->keyring, vk_id, new_key, false);
	if (ret == 0)
		ret = cmk_fault("rewrap.vk_add");
	if (ret == 0)
		ret = env_write(vol, vi, err);
	if (ret) {
		if (!err->msg[0])
			cmk_err_set(err, ret, "cannot add volume key %s",
				    vk_id);
		(void)cmk_keyring_remove(vol->keyring, vk_id);
		goto out;
	}
	env_remember(vol, vk_id, new_key);
	cmk_keyring_set_newest(vol->keyring, vk_id);
	strcpy(version, w->version);
out:
	cmk_secure_free(keys, 2 * CMK_KEY_LEN);
	free(w);
	free(vi);
	return ret;
}

/* Makes sure the keyring holds version, fetching it once on demand (a
 * header wrapped with a version that was not enabled at mount time, or
 * one enabled since). A refusal is remembered until the next re-check and
 * logged once: -EACCES. An unreachable service: -EIO, not remembered. */
static int volume_fetch_missing(struct cmk_volume *vol, const char *version,
				struct cmk_err *err)
{
	struct cmk_err fetch_err = { 0 };
	uint8_t *cmk = NULL;
	int ret = 0;

	pthread_mutex_lock(&vol->fetch_lock);
	if (cmk_keyring_has(vol->keyring, version))
		goto out;
	for (size_t i = 0; i < vol->n_refused; i++) {
		if (strcmp(vol->refused[i], version) == 0) {
			ret = cmk_err_set(err, -EACCES,
					  "CMK version %s was refused by the "
					  "key service",
					  version);
			goto out;
		}
	}
	cmk = cmk_secure_alloc(CMK_KEY_LEN);
	if (!cmk) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	if (cmk_volume_is_envelope(vol))
		ret = env_fetch(vol, version, cmk, &fetch_err);
	else
		ret = cmk_kms_fetch(vol->kms, version, cmk, NULL, &fetch_err);
	if (ret == 0 && cmk_volume_is_envelope(vol)) {
		cmk_log(LOG_INFO, CMK_MSG_KEY_FETCHED,
			"volume key %s unwrapped on demand", version);
		goto out;
	}
	if (ret == 0) {
		ret = cmk_keyring_add(vol->keyring, version, cmk, false);
		if (ret)
			cmk_err_set(err, ret, "cannot hold CMK version %s",
				    version);
		else
			cmk_log(LOG_INFO, CMK_MSG_KEY_FETCHED,
				"CMK version %s fetched on demand", version);
		goto out;
	}
	if (kms_unreachable(ret)) {
		cmk_log(LOG_WARNING, CMK_MSG_KMS_UNREACHABLE,
			"CMK version %s: %s", version, fetch_err.msg);
		ret = cmk_err_set(err, -EIO, "CMK version %s: %s", version,
				  fetch_err.msg);
		goto out;
	}
	cmk_log(LOG_WARNING, CMK_MSG_KEY_REFUSED,
		"CMK version %s refused: %s; its files give "
		"EACCES",
		version, fetch_err.msg);
	if (vol->n_refused < CMK_VOLUME_REFUSED_MAX)
		strcpy(vol->refused[vol->n_refused++], version);
	ret = cmk_err_set(err, -EACCES, "CMK version %s: %s", version,
			  fetch_err.msg);
out:
	/* A refusal or an unreachable service is the key service's fault
	 * (a wrong passphrase the wrong key's), not the volume's. */
	if (ret && ret != -ENOMEM && err && err->cat == CMK_CAT_NONE)
		err->cat = fetch_err.cat != CMK_CAT_NONE ? fetch_err.cat
							 : CMK_CAT_KMS;
	pthread_mutex_unlock(&vol->fetch_lock);
	cmk_secure_free(cmk, CMK_KEY_LEN);
	return ret;
}

/* Reads and parses a backing file's header, which must be this volume's. */
static int read_header(struct cmk_volume *vol, int fd,
		       uint8_t hdr[CMK_HEADER_SIZE],
		       struct cmk_header_info *info, struct cmk_err *err)
{
	size_t got = 0;
	int ret;

	ret = cmk_read_full(fd, hdr, CMK_HEADER_SIZE, 0, &got);
	if (ret)
		return cmk_err_set(err, ret, "cannot read the header: %s",
				   strerror(-ret));
	ret = cmk_header_parse(hdr, got, info, err);
	if (ret)
		return ret;
	if (memcmp(info->volume_id, vol->info.volume_id, CMK_ID_LEN) != 0)
		return cmk_err_set(err, -EBADMSG,
				   "the header belongs to another volume");
	return 0;
}

/* Unwraps a parsed header's DEK, fetching its version on demand. */
static int unwrap_dek(struct cmk_volume *vol, const uint8_t *hdr,
		      const struct cmk_header_info *info, uint8_t *dek,
		      struct cmk_err *err)
{
	int ret = cmk_keyring_unwrap(vol->keyring, hdr, info, dek, NULL, err);

	if (ret != -ENOKEY)
		return ret;
	ret = volume_fetch_missing(vol, info->slots[info->active].cmk_version,
				   err);
	if (ret)
		return ret;
	return cmk_keyring_unwrap(vol->keyring, hdr, info, dek, NULL, err);
}

int cmk_volume_finish_pending(int fd, const struct cmk_pending *p,
			      struct cmk_err *err)
{
	char path[64];
	int wfd = fd, ret;

	/* A read-only open finishes it through a writable descriptor of
	 * the same file. */
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		wfd = open(path, O_WRONLY | O_CLOEXEC);
		if (wfd < 0)
			return cmk_err_set(err, -errno,
					   "cannot finish an interrupted "
					   "truncate: %s",
					   strerror(errno));
	}
	ret = cmk_data_finish_pending(wfd, p);
	if (wfd != fd)
		close(wfd);
	if (ret)
		return cmk_err_set(err, ret,
				   "cannot finish an interrupted truncate: %s",
				   strerror(-ret));
	cmk_log(LOG_NOTICE, CMK_MSG_GENERAL,
		"finished a truncate to %llu bytes that a crash interrupted",
		(unsigned long long)p->new_size);
	return 0;
}

int cmk_volume_open_file(struct cmk_volume *vol, int fd, struct cmk_xts **xts,
			 char version[CMK_VERSION_MAX + 1], struct cmk_err *err)
{
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_header_info info;
	uint8_t *dek = NULL;
	int ret;

	ret = read_header(vol, fd, hdr, &info, err);
	if (ret)
		return ret;
	if (info.has_pending) {
		ret = cmk_volume_finish_pending(fd, &info.pending, err);
		if (ret)
			return ret;
	}
	dek = cmk_secure_alloc(CMK_KEY_LEN);
	if (!dek)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	ret = unwrap_dek(vol, hdr, &info, dek, err);
	if (ret == 0) {
		ret = cmk_xts_for_file(dek, info.file_id, xts);
		if (ret)
			cmk_err_set(err, ret, "cannot set up the cipher");
		else if (version)
			strcpy(version, info.slots[info.active].cmk_version);
	}
	cmk_secure_free(dek, CMK_KEY_LEN);
	return ret;
}

int cmk_volume_backing_path(struct cmk_volume *vol, const char *plain,
			    char *out, size_t size, struct cmk_err *err)
{
	struct cmk_backing_name bn;
	uint8_t dirid[CMK_DIRID_LEN];
	char part[CMK_NAME_PLAIN_MAX + 1];
	const char *p = plain, *end;
	size_t off = 0, len;
	int dir_fd, next, ret = 0;

	out[0] = '\0';
	dir_fd = fcntl(vol->dir_fd, F_DUPFD_CLOEXEC, 0);
	if (dir_fd < 0)
		return cmk_err_set(err, -errno, "%s: %s", vol->path,
				   strerror(errno));
	while (*p) {
		while (*p == '/')
			p++;
		end = p + strcspn(p, "/");
		len = (size_t)(end - p);
		if (len == 0)
			break;
		if (len == 1 && *p == '.') {
			p = end;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			ret = cmk_err_set(err, -EINVAL,
					  "%s: '..' is not "
					  "allowed",
					  plain);
			break;
		}
		if (len > CMK_NAME_PLAIN_MAX) {
			ret = cmk_err_set(err, -ENAMETOOLONG,
					  "%s: a name "
					  "longer than "
					  "255 bytes",
					  plain);
			break;
		}
		memcpy(part, p, len);
		part[len] = '\0';
		if (vol->names) {
			ret = cmk_bn_read_dirid(dir_fd, dirid);
			if (ret) {
				cmk_err_set(err,
					    ret == -ENOENT ? -EBADMSG : ret,
					    "%s: a directory on the way has no "
					    "usable %s",
					    plain, CMK_DIRID_FILE);
				ret = err->code;
				break;
			}
			ret = cmk_name_to_backing(vol->names, dirid, part, len,
						  &bn);
			if (ret) {
				cmk_err_set(err, ret,
					    "%s: not a valid name: "
					    "'%s'",
					    plain, part);
				break;
			}
		} else {
			snprintf(bn.name, sizeof(bn.name), "%s", part);
		}
		if (off + strlen(bn.name) + 2 > size) {
			ret = cmk_err_set(err, -ENAMETOOLONG,
					  "%s: the backing path is too long",
					  plain);
			break;
		}
		off += (size_t)snprintf(out + off, size - off, "%s%s",
					off ? "/" : "", bn.name);
		p = end;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		next = openat(dir_fd, bn.name,
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			ret = cmk_err_set(err, -errno,
					  "%s: '%s' is not a "
					  "directory of the "
					  "volume: %s",
					  plain, part, strerror(errno));
			break;
		}
		close(dir_fd);
		dir_fd = next;
	}
	close(dir_fd);
	if (ret == 0 && off == 0)
		snprintf(out, size, ".");
	/* Not the path's form (the caller's): what the volume holds. */
	if (ret && ret != -EINVAL && ret != -ENAMETOOLONG)
		ret = cmk_err_cat(err, CMK_CAT_VOLUME, ret);
	return ret;
}

int cmk_volume_file_version(struct cmk_volume *vol, int fd,
			    char version[CMK_VERSION_MAX + 1],
			    struct cmk_err *err)
{
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_header_info info;
	int ret;

	ret = read_header(vol, fd, hdr, &info, err);
	if (ret == 0)
		strcpy(version, info.slots[info.active].cmk_version);
	return ret;
}

int cmk_volume_rewrap_fd(struct cmk_volume *vol, int fd,
			 enum cmk_rewrap_outcome *outcome, struct cmk_err *err)
{
	char newest[CMK_VERSION_MAX + 1];
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_header_info info;
	uint8_t *keys = NULL, *cmk, *dek;
	size_t done = 0;
	uint64_t seq;
	int ret, slot;

	/* The key slots under the store's byte-range lock, from the read to
	 * the write: a mount with -o shared on another host holds the whole
	 * file while it changes it, and two rewraps never write one slot
	 * at once. */
	ret = cmk_range_lock(fd, F_WRLCK, CMK_SLOT_OFF(0), 2 * CMK_SLOT_SIZE);
	if (ret)
		return cmk_err_set(err, ret, "cannot lock the key slots: %s",
				   strerror(-ret));
	ret = read_header(vol, fd, hdr, &info, err);
	if (ret)
		goto out;
	keys = cmk_secure_alloc(2 * CMK_KEY_LEN);
	if (!keys) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	cmk = keys;
	dek = keys + CMK_KEY_LEN;
	if (cmk_keyring_get_newest(vol->keyring, newest, cmk) != 0) {
		ret = cmk_err_set(err, -EACCES,
				  "no enabled CMK version is held");
		goto out;
	}
	if (strcmp(info.slots[info.active].cmk_version, newest) == 0) {
		*outcome = CMK_REWRAP_CURRENT;
		goto out;
	}
	ret = unwrap_dek(vol, hdr, &info, dek, err);
	if (ret)
		goto out;
	/* The inactive slot only: the active one stays whole until the new
	 * one, with a higher sequence number, is complete. */
	if (cmk_header_next_slot(&info, &slot, &seq) != 0) {
		ret = cmk_err_set(err, -EBADMSG,
				  "key slot sequence number at its maximum");
		goto out;
	}
	ret = cmk_header_seal_slot(hdr, slot, seq, newest, cmk, dek, NULL);
	if (ret) {
		cmk_err_set(err, ret, "cannot seal the key slot");
		goto out;
	}
	while (done < CMK_SLOT_SIZE) {
		ssize_t n = pwrite(fd, hdr + CMK_SLOT_OFF(slot) + done,
				   CMK_SLOT_SIZE - done,
				   (off_t)(CMK_SLOT_OFF(slot) + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			cmk_err_set(err, ret, "cannot write key slot %d: %s",
				    slot, strerror(-ret));
			goto out;
		}
		done += (size_t)n;
	}
	*outcome = CMK_REWRAP_DONE;
out:
	cmk_secure_free(keys, 2 * CMK_KEY_LEN);
	(void)cmk_range_lock(fd, F_UNLCK, CMK_SLOT_OFF(0), 2 * CMK_SLOT_SIZE);
	return ret;
}

int cmk_volume_remac(struct cmk_volume *vol, struct cmk_err *err)
{
	struct cmk_volume_info vi = vol->info;
	bool names = vi.flags & CMK_VOLUME_FLAG_ENC_NAMES;
	uint8_t buf[CMK_VOLUME_SIZE];
	uint8_t *keys = cmk_secure_alloc(3 * CMK_KEY_LEN);
	uint8_t *cmk = keys, *old_cmk = keys + CMK_KEY_LEN;
	uint8_t *name_key = keys + 2 * CMK_KEY_LEN;
	const char *name_version = NULL;
	int ret, slot;
	uint64_t seq;

	if (!keys)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	if (cmk_keyring_get_newest(vol->keyring, vi.mac_version, cmk) != 0) {
		ret = cmk_err_set(err, -EACCES,
				  "no enabled CMK version is held");
		goto out;
	}
	if (names)
		name_version = vi.name_slots[vi.name_active].cmk_version;
	if (strcmp(vi.mac_version, vol->info.mac_version) == 0 &&
	    (!names || strcmp(name_version, vi.mac_version) == 0)) {
		ret = 0;
		goto out;
	}
	/* From the descriptor as read: the name slots stay as they are
	 * unless the name key moves to the new version. */
	memcpy(buf, vol->descriptor, CMK_VOLUME_SIZE);
	ret = cmk_volume_encode_fields(buf, &vi);
	if (ret == 0 && names && strcmp(name_version, vi.mac_version) != 0) {
		ret = volume_cmk(vol, name_version, old_cmk, err);
		if (ret == 0)
			ret = cmk_volume_open_name_slot(vol->descriptor,
							vi.name_active, old_cmk,
							name_key);
		if (ret == 0 && cmk_volume_next_name_slot(&vi, &slot, &seq))
			ret = cmk_err_set(err, -EBADMSG,
					  "name-key slot sequence number at "
					  "its maximum");
		if (ret == 0)
			ret = cmk_volume_seal_name_slot(buf, slot, seq,
							vi.mac_version, cmk,
							name_key, NULL);
		if (ret) {
			if (!err->msg[0])
				cmk_err_set(err, ret,
					    "cannot re-wrap the name "
					    "key");
			goto out;
		}
	}
	if (ret == 0)
		ret = cmk_volume_mac(buf, cmk);
	if (ret) {
		cmk_err_set(err, ret, "cannot encode the volume descriptor");
		goto out;
	}
	ret = volume_replace_descriptor(vol, buf, err);
out:
	cmk_secure_free(keys, 3 * CMK_KEY_LEN);
	return ret;
}

int cmk_volume_recheck(struct cmk_volume *vol, size_t *revoked,
		       struct cmk_err *err)
{
	char(*held)[CMK_VERSION_MAX + 1] = NULL;
	struct cmk_kms_version *versions = NULL;
	char newest[CMK_VERSION_MAX + 1];
	struct cmk_err fetch_err;
	uint8_t *cmk = NULL;
	size_t count = 0, n_held, i, k;
	bool have_newest;
	int ret;

	*revoked = 0;
	if (cmk_volume_is_envelope(vol))
		return env_recheck(vol, revoked, err);
	ret = cmk_kms_list_versions(vol->kms, &versions, &count, err);
	if (ret)
		return ret;
	cmk = cmk_secure_alloc(CMK_KEY_LEN);
	n_held = cmk_keyring_versions(vol->keyring, NULL, 0);
	held = calloc(n_held + 1, sizeof(*held));
	if (!cmk || !held) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	n_held = cmk_keyring_versions(vol->keyring, held, n_held);
	for (i = 0; i < n_held; i++) {
		for (k = 0; k < count; k++)
			if (strcmp(versions[k].id, held[i]) == 0)
				break;
		if (k < count && versions[k].enabled)
			continue;
		if (cmk_keyring_remove(vol->keyring, held[i]) == 0) {
			(*revoked)++;
			cmk_log(LOG_WARNING, CMK_MSG_KEY_REVOKED,
				"CMK version %s is %s in the key service: "
				"wiped from memory, its files give EACCES",
				held[i], k < count ? "disabled" : "gone");
		}
	}
	/* Versions enabled again (or added): held from now on. When no
	 * version is the newest any more, the first enabled one (the list
	 * is newest first) becomes it as it is added: a reader that sees a
	 * version come back must also see creates work again. */
	have_newest = cmk_keyring_get_newest(vol->keyring, newest, cmk) == 0;
	for (k = 0; k < count; k++) {
		if (!versions[k].enabled)
			continue;
		if (cmk_keyring_has(vol->keyring, versions[k].id)) {
			if (!have_newest &&
			    cmk_keyring_set_newest(vol->keyring,
						   versions[k].id) == 0)
				have_newest = true;
			continue;
		}
		if (cmk_kms_fetch(vol->kms, versions[k].id, cmk, NULL,
				  &fetch_err) != 0) {
			cmk_log(LOG_WARNING, CMK_MSG_KEY_REFUSED,
				"CMK version %s: %s", versions[k].id,
				fetch_err.msg);
			continue;
		}
		if (cmk_keyring_add(vol->keyring, versions[k].id, cmk,
				    !have_newest) == 0) {
			have_newest = true;
			cmk_log(LOG_NOTICE, CMK_MSG_KEY_FETCHED,
				"CMK version %s is enabled: held "
				"again",
				versions[k].id);
		}
	}
	/* A newer version (added on the key service, or by a rotation that
	 * another host made): new files use it from now on, on every host
	 * within recheck_interval, without a remount. */
	for (k = 0; k < count; k++) {
		if (!versions[k].enabled ||
		    !cmk_keyring_has(vol->keyring, versions[k].id))
			continue;
		if (cmk_keyring_get_newest(vol->keyring, newest, cmk) == 0 &&
		    strcmp(newest, versions[k].id) != 0 &&
		    cmk_keyring_set_newest(vol->keyring, versions[k].id) == 0)
			cmk_log(LOG_NOTICE, CMK_MSG_KEY_FETCHED,
				"CMK version %s is the newest: new files use "
				"it",
				versions[k].id);
		break;
	}
	pthread_mutex_lock(&vol->fetch_lock);
	vol->n_refused = 0;
	pthread_mutex_unlock(&vol->fetch_lock);
	ret = 0;
out:
	free(held);
	free(versions);
	cmk_secure_free(cmk, CMK_KEY_LEN);
	return ret;
}

void cmk_volume_plain_path(struct cmk_volume *vol, const char *rel, char *out,
			   size_t size)
{
	char part[CMK_NAME_BACKING_MAX + 1], plain[CMK_NAME_PLAIN_MAX + 1];
	uint8_t dirid[CMK_DIRID_LEN];
	const char *p = rel, *why;
	size_t off = 0;
	int dir_fd;

	out[0] = '\0';
	if (!vol->names) {
		snprintf(out, size, "%s", rel);
		return;
	}
	dir_fd = fcntl(vol->dir_fd, F_DUPFD_CLOEXEC, 0);
	while (*p && off < size) {
		size_t len = strcspn(p, "/");
		bool known = false;
		int next;

		if (len == 0 || len >= sizeof(part)) {
			snprintf(out + off, size - off, "%s[backing %s]",
				 off ? "/" : "", p);
			break;
		}
		memcpy(part, p, len);
		part[len] = '\0';
		if (dir_fd >= 0 && cmk_bn_read_dirid(dir_fd, dirid) == 0 &&
		    cmk_bn_kind(part, false) == CMK_BN_NAME &&
		    cmk_bn_decode(vol->names, dir_fd, dirid, part, plain,
				  &why) == 0)
			known = true;
		off += (size_t)snprintf(out + off, size - off,
					known ? "%s%s" : "%s[backing %s]",
					off ? "/" : "", known ? plain : part);
		p += len;
		if (*p == '/')
			p++;
		if (!*p || off >= size)
			break;
		next = dir_fd >= 0 ? openat(dir_fd, part,
					    O_PATH | O_DIRECTORY | O_NOFOLLOW |
						    O_CLOEXEC)
				   : -1;
		if (dir_fd >= 0)
			close(dir_fd);
		dir_fd = next;
	}
	if (dir_fd >= 0)
		close(dir_fd);
}

int cmk_volume_check_file(struct cmk_volume *vol, int fd,
			  struct cmk_header_info *info, struct cmk_err *err)
{
	uint8_t hdr[CMK_HEADER_SIZE];
	uint8_t *dek;
	int ret;

	memset(info, 0, sizeof(*info));
	ret = read_header(vol, fd, hdr, info, err);
	if (ret)
		return ret;
	dek = cmk_secure_alloc(CMK_KEY_LEN);
	if (!dek)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	ret = unwrap_dek(vol, hdr, info, dek, err);
	cmk_secure_free(dek, CMK_KEY_LEN);
	return ret;
}

/* One number of the root record, after optional white space: digits in
 * base 8 or 10 and no sign, at most max. NULL when there is none. */
static const char *root_number(const char *p, const char *end, int base,
			       unsigned long max, unsigned long *out)
{
	const char *start;
	unsigned long v = 0;

	while (p < end && isspace((unsigned char)*p))
		p++;
	for (start = p; p < end && *p >= '0' && *p < '0' + base; p++) {
		v = v * (unsigned long)base + (unsigned long)(*p - '0');
		if (v > max)
			return NULL;
	}
	if (p == start)
		return NULL;
	*out = v;
	return p;
}

int cmk_volume_parse_root(const char *text, size_t len,
			  struct cmk_root_attr *attr)
{
	const char *p = text, *end = text + len;
	unsigned long mode, uid, gid;

	if (!(p = root_number(p, end, 8, 07777, &mode)) ||
	    !(p = root_number(p, end, 10, UINT32_MAX, &uid)) ||
	    !(p = root_number(p, end, 10, UINT32_MAX, &gid)))
		return -EBADMSG;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p != end)
		return -EBADMSG;
	attr->mode = (mode_t)mode;
	attr->uid = (uid_t)uid;
	attr->gid = (gid_t)gid;
	return 0;
}

int cmk_volume_read_root(struct cmk_volume *vol, struct cmk_root_attr *attr)
{
	char buf[96];
	struct stat st;
	size_t got = 0;
	int fd, ret;

	fd = cmk_open_regular(vol->dir_fd, CMK_VOLUME_ROOT, O_RDONLY, &st,
			      NULL);
	if (fd == -ENOENT)
		return fd;
	if (fd < 0)
		return -EBADMSG;
	ret = st.st_size < (off_t)sizeof(buf)
		      ? cmk_read_full(fd, buf, sizeof(buf) - 1, 0, &got)
		      : -EBADMSG;
	close(fd);
	if (ret)
		return ret;
	return cmk_volume_parse_root(buf, got, attr);
}

int cmk_volume_write_root(struct cmk_volume *vol,
			  const struct cmk_root_attr *attr, struct cmk_err *err)
{
	char text[64];
	int dir_fd, ret, len;

	dir_fd = openat(vol->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return cmk_err_set(err, -errno, "%s: %s", vol->path,
				   strerror(errno));
	len = snprintf(text, sizeof(text), "%04o %u %u\n",
		       (unsigned)(attr->mode & 07777), (unsigned)attr->uid,
		       (unsigned)attr->gid);
	/* A crash leaves the old record or the new one, never an empty
	 * file. */
	ret = cmk_replace_file(dir_fd, vol->path, CMK_VOLUME_ROOT, text,
			       (size_t)len, 0600, false, err);
	/* Nobody but its owner reaches the backing tree. */
	if (ret == 0 && fchmod(dir_fd, 0700) != 0)
		ret = cmk_err_set(err, -errno, "%s: chmod 0700: %s", vol->path,
				  strerror(errno));
	close(dir_fd);
	return ret;
}

/* Samples the entries of one backing directory for cmk_volume_check_own:
 * counts names that decrypt and headers of this volume (*mine) and those
 * that do not (*foreign). */
static void sample_dir(struct cmk_volume *vol, int dir_fd, bool root, int *mine,
		       int *foreign, int *budget)
{
	uint8_t dirid[CMK_DIRID_LEN];
	bool have_id = false;
	struct dirent *de;
	DIR *d;
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (vol->names)
		have_id = cmk_bn_read_dirid(dir_fd, dirid) == 0;
	while (*budget > 0 && (de = readdir(d))) {
		char plain[CMK_NAME_PLAIN_MAX + 1];
		uint8_t hdr[CMK_HEADER_SIZE];
		struct cmk_header_info info;
		const char *why;
		size_t got = 0;
		int f;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    cmk_bn_hidden(vol->names != NULL, root, de->d_name))
			continue;
		(*budget)--;
		if (vol->names && have_id) {
			if (cmk_bn_decode(vol->names, dirfd(d), dirid,
					  de->d_name, plain, &why) == 0)
				(*mine)++;
			else
				(*foreign)++;
		}
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		f = cmk_open_regular(dirfd(d), de->d_name, O_RDONLY, NULL,
				     NULL);
		if (f < 0)
			continue;
		if (cmk_read_full(f, hdr, sizeof(hdr), 0, &got) == 0 &&
		    cmk_header_parse(hdr, got, &info, NULL) == 0) {
			if (memcmp(info.volume_id, vol->info.volume_id,
				   CMK_ID_LEN) == 0)
				(*mine)++;
			else
				(*foreign)++;
		}
		close(f);
	}
	closedir(d);
}

int cmk_volume_check_own(struct cmk_volume *vol, struct cmk_err *err)
{
	int mine = 0, foreign = 0, budget = 64;

	sample_dir(vol, vol->dir_fd, true, &mine, &foreign, &budget);
	if (foreign > 0 && mine == 0)
		return vol_cat(
			err,
			cmk_err_set(err, -EBADMSG,
				    "%s/%s belongs to another volume: none of "
				    "the %d entries sampled in %s is this "
				    "volume's (its id is not in their headers, "
				    "or its name key does not open their names)",
				    vol->path, CMK_VOLUME_FILE, foreign,
				    vol->path));
	return 0;
}
