/* SPDX-License-Identifier: MIT */
/* A volume: the cipher directory, its descriptor and the keys that open
 * it. Used by the CLI commands and the FUSE front end. */
#ifndef CMKFS_FS_VOLUME_H
#define CMKFS_FS_VOLUME_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "conf/conf.h"
#include "crypto/filedata.h"
#include "crypto/format.h"
#include "crypto/keyring.h"
#include "crypto/names.h"
#include "kms/kms.h"

#define CMK_VOLUME_REFUSED_MAX 64 /* versions remembered as refused */
#define CMK_VOLUME_COPIES 2	  /* CMK_VOLUME_FILE and CMK_VOLUME_BACKUP */
#define CMK_VK_FIRST "vk1"	  /* an envelope volume's first volume key */

/* One copy of the descriptor, as read. */
struct cmk_volume_copy {
	int state;    /* 0: parsed; -ENOENT: missing; else -errno */
	int verified; /* 0: its MAC checked out (after unlocking); else
		       * -EKEYREJECTED or why it could not be checked */
	char problem[CMK_ERR_MSG_MAX];	/* why state is not 0 */
	uint8_t bytes[CMK_VOLUME_SIZE]; /* when parsed */
	struct cmk_volume_info info;	/* when parsed */
};

struct cmk_volume {
	int dir_fd; /* CIPHERDIR, O_PATH */
	char path[PATH_MAX];
	struct cmk_volume_info info;
	uint8_t descriptor[CMK_VOLUME_SIZE]; /* the copy in use, as read */
	struct cmk_volume_copy copies[CMK_VOLUME_COPIES];
	int used_copy; /* which of copies the volume uses */
	struct cmk_kms *kms;
	struct cmk_keyring *keyring;
	/* The name cipher of a volume with encrypted names (set by
	 * cmk_volume_open()); NULL: plaintext names. */
	struct cmk_names *names;
	/* Versions the key service refused on demand: asked for once, until
	 * the next re-check forgets them. Under fetch_lock, which also makes
	 * concurrent opens of one missing version fetch it once. */
	pthread_mutex_t fetch_lock;
	char refused[CMK_VOLUME_REFUSED_MAX][CMK_VERSION_MAX + 1];
	size_t n_refused;
	/* Envelope volumes: the SHA-256 of each volume key held since the
	 * descriptor verified, so that a key revoked and then given back is
	 * taken again only if it is the same key. Under fetch_lock. */
	struct {
		char vk_id[CMK_VERSION_MAX + 1];
		uint8_t digest[CMK_SHA256_LEN];
	} vk_known[CMK_ENVELOPE_COUNT * 2];
	size_t n_vk_known;
	int64_t unreachable_since;	/* monotonic ms; 0: reachable */
	unsigned int unreachable_grace; /* seconds, from the config */
	unsigned int recheck_interval;	/* seconds, from the config */
};

/* True for a volume whose volume key the key service wraps. */
static inline bool cmk_volume_is_envelope(const struct cmk_volume *vol)
{
	return (vol->info.flags & CMK_VOLUME_FLAG_ENVELOPE) != 0;
}

/* What cmk_volume_rewrap_fd() did. */
enum cmk_rewrap_outcome {
	CMK_REWRAP_DONE,    /* the inactive slot now wraps with the newest */
	CMK_REWRAP_CURRENT, /* already wrapped with the newest: untouched */
};

/* `cmkfs init`: writes the descriptor into an empty (or new) directory;
 * with enc_names, a random name key sealed in it and the root's
 * directory id (CMK_DIRID_FILE) first. */
int cmk_volume_init(const struct cmk_conf *conf, const char *cipherdir,
		    bool enc_names, char version_out[CMK_VERSION_MAX + 1],
		    struct cmk_err *err);

/* Opens the key service, fetches every enabled CMK version into a keyring,
 * and checks the descriptor: -EKEYREJECTED when the volume belongs to
 * another key. */
int cmk_volume_open(const struct cmk_conf *conf, const char *cipherdir,
		    struct cmk_volume **out, struct cmk_err *err);
/* Like cmk_volume_open() but fetches no key: the descriptor copies are
 * parsed (not verified; the first that parses is used) and the key service
 * opened, with an empty keyring. For status, which must work when no
 * version is enabled. */
int cmk_volume_peek(const struct cmk_conf *conf, const char *cipherdir,
		    struct cmk_volume **out, struct cmk_err *err);
/* What cmk_volume_open() does after peeking: fetches the keys, checks the
 * descriptor copies (the first that verifies is used; -EKEYREJECTED when
 * none does, as with another key) and sets up the name cipher. */
int cmk_volume_unlock(struct cmk_volume *vol, struct cmk_err *err);
/* Samples the root of the volume: -EBADMSG when entries are there and
 * none of them is the descriptor's volume's (a descriptor copied from
 * another volume of the same key would otherwise show an empty volume and
 * take writes). After cmk_volume_unlock(). */
int cmk_volume_check_own(struct cmk_volume *vol, struct cmk_err *err);
/* Rewrites descriptor copy which (0: CMK_VOLUME_FILE, 1:
 * CMK_VOLUME_BACKUP) from the copy in use; for fsck --repair. */
int cmk_volume_write_copy(struct cmk_volume *vol, int which,
			  struct cmk_err *err);
/* The plaintext path of rel, a path relative to the cipher directory as
 * a walk of the backing store finds it, into out: decrypted as far as the
 * names decrypt, the rest shown as "[backing NAME]". A volume with
 * plaintext names gives rel itself. */
void cmk_volume_plain_path(struct cmk_volume *vol, const char *rel, char *out,
			   size_t size);
void cmk_volume_close(struct cmk_volume *vol);

/* Writes a fresh header (new file id and DEK, wrapped by the newest CMK
 * version) to an empty backing file and returns its XTS context. */
int cmk_volume_new_file(struct cmk_volume *vol, int fd, struct cmk_xts **xts,
			char version[CMK_VERSION_MAX + 1], struct cmk_err *err);
/* Reads and unwraps a backing file's header, fetching its CMK version on
 * demand when the keyring lacks it. -EBADMSG for a damaged or foreign
 * header, -EACCES when the key service refuses its version, -EIO when the
 * service cannot be reached. version (may be NULL) gets the file's CMK
 * version, as does cmk_volume_new_file()'s. */
int cmk_volume_open_file(struct cmk_volume *vol, int fd, struct cmk_xts **xts,
			 char version[CMK_VERSION_MAX + 1],
			 struct cmk_err *err);

/* The mount root's attributes, kept apart from the cipher directory's. */
struct cmk_root_attr {
	mode_t mode; /* permission bits (07777) */
	uid_t uid;
	gid_t gid;
};
/* Reads CMK_VOLUME_ROOT into *attr: 0, -ENOENT without one, -EBADMSG for
 * one that is not a small regular file of three numbers. */
int cmk_volume_read_root(struct cmk_volume *vol, struct cmk_root_attr *attr);
/* The record's text (len bytes, not NUL-terminated): "MODE UID GID\n",
 * the mode in octal up to 07777, the ids in decimal up to 2^32 - 1, white
 * space around them, no signs. 0 or -EBADMSG. */
int cmk_volume_parse_root(const char *text, size_t len,
			  struct cmk_root_attr *attr);
/* Replaces CMK_VOLUME_ROOT (atomically), and makes the cipher directory
 * 0700 (0 or -errno). */
int cmk_volume_write_root(struct cmk_volume *vol,
			  const struct cmk_root_attr *attr,
			  struct cmk_err *err);

/* Finishes the truncate a crash interrupted, recorded in the header of
 * the backing file fd (cmk_volume_open_file() does it on open). */
int cmk_volume_finish_pending(int fd, const struct cmk_pending *p,
			      struct cmk_err *err);

/* The backing path, relative to the cipher directory, of plain, a path
 * in the volume as applications see it ("photos/anna.jpg"; "." and empty
 * parts skipped, ".." refused). Every directory on the way must exist; the
 * last part need not. -ENOENT, -EINVAL, -ENAMETOOLONG, -EBADMSG (a
 * directory without a usable id). */
int cmk_volume_backing_path(struct cmk_volume *vol, const char *plain,
			    char *out, size_t size, struct cmk_err *err);

/* Re-wraps the DEK of the open backing file fd under the keyring's newest
 * version, through the header's inactive slot (its 256 bytes are the only
 * ones written; no data unit is read). The caller syncs. */
int cmk_volume_rewrap_fd(struct cmk_volume *vol, int fd,
			 enum cmk_rewrap_outcome *outcome, struct cmk_err *err);

/* The CMK version that wraps the backing file fd (its active slot). */
int cmk_volume_file_version(struct cmk_volume *vol, int fd,
			    char version[CMK_VERSION_MAX + 1],
			    struct cmk_err *err);

/* fsck: reads, parses and checks the header of the backing file fd (this
 * volume's id, and its active slot unwraps, fetching its version on
 * demand); info gets both slots' states even when the header is refused.
 * 0, -EBADMSG (damaged or foreign), -EACCES (the key service refuses its
 * version), -EIO (the service cannot be asked), -ENOKEY. */
int cmk_volume_check_file(struct cmk_volume *vol, int fd,
			  struct cmk_header_info *info, struct cmk_err *err);

/* Envelope volumes: has the key service wrap each volume key with the
 * CMK's current version (its own rewrap where it has one) and writes the
 * descriptor; no file is touched. *outcome CMK_REWRAP_CURRENT when every
 * record already uses it; version gets the CMK version now in use. */
int cmk_volume_rewrap_envelope(struct cmk_volume *vol,
			       enum cmk_rewrap_outcome *outcome,
			       char version[CMK_VERSION_MAX + 1],
			       struct cmk_err *err);

/* `cmkfs rewrap --volume-key` on an envelope volume, as steps around the
 * CLI's walks over the headers. */
enum cmk_vk_step {
	CMK_VK_NEW,   /* one volume key: add a new one (cmk_volume_vk_add) */
	CMK_VK_DRAIN, /* an older key that the last replacement kept: move
		       * its headers to the current one, then drop it */
	CMK_VK_MOVE,  /* a replacement under way (a rerun): its key, now
		       * the keyring's newest; move every header to it */
};

/* Which step the descriptor's records call for; vk_id: the key of a
 * DRAIN or MOVE. -EAGAIN (the message says how long) for a DRAIN sooner
 * than two recheck_intervals after the descriptor last changed: a mount
 * makes new files with the older key until it has re-read it. */
int cmk_volume_vk_state(struct cmk_volume *vol, enum cmk_vk_step *step,
			char vk_id[CMK_VERSION_MAX + 1], struct cmk_err *err);

/* Removes the record of vk_id (neither the MAC key nor the name key's)
 * from the descriptor: only once no header uses it. */
int cmk_volume_vk_drop(struct cmk_volume *vol, const char *vk_id,
		       struct cmk_err *err);

/* Draws a new volume key, has the key service wrap it with the CMK's
 * current version (version), links it from the current one and writes
 * both records; the new key (vk_id) becomes the keyring's newest. */
int cmk_volume_vk_add(struct cmk_volume *vol, char vk_id[CMK_VERSION_MAX + 1],
		      char version[CMK_VERSION_MAX + 1], struct cmk_err *err);

/* Seals the volume descriptor anew with the keyring's newest version. */
int cmk_volume_remac(struct cmk_volume *vol, struct cmk_err *err);

/* The re-check of a mount: lists the key service's versions, wipes from
 * the keyring every held version that is no longer enabled (*revoked: how
 * many), fetches enabled versions it lacks (a version enabled again), and
 * forgets the refusals. A key service that cannot be reached changes
 * nothing: the error is returned for a warning. */
int cmk_volume_recheck(struct cmk_volume *vol, size_t *revoked,
		       struct cmk_err *err);

/* Fetches the key service's enabled versions into kr, newest first marked
 * newest. Versions that fail to fetch (other than the newest) are logged
 * and skipped. */
int cmk_volume_load_keyring(struct cmk_kms *kms, struct cmk_keyring *kr,
			    struct cmk_err *err);

#endif
