/* A volume: the cipher directory, its descriptor and the keys that open
 * it. Used by the CLI commands and the FUSE front end. */
#ifndef CMKFS_FS_VOLUME_H
#define CMKFS_FS_VOLUME_H

#include <stdint.h>

#include "common/err.h"
#include "conf/conf.h"
#include "crypto/filedata.h"
#include "crypto/format.h"
#include "crypto/keyring.h"
#include "kms/kms.h"

struct cmk_volume {
	int dir_fd; /* CIPHERDIR, O_PATH */
	char path[PATH_MAX];
	struct cmk_volume_info info;
	struct cmk_kms *kms;
	struct cmk_keyring *keyring;
};

/* `cmkfs init`: writes the descriptor into an empty (or new) directory. */
int cmk_volume_init(const struct cmk_conf *conf, const char *cipherdir,
		    char version_out[CMK_VERSION_MAX + 1], struct cmk_err *err);

/* Opens the key service, fetches every enabled CMK version into a keyring,
 * and checks the descriptor: -EKEYREJECTED when the volume belongs to
 * another key. */
int cmk_volume_open(const struct cmk_conf *conf, const char *cipherdir,
		    struct cmk_volume **out, struct cmk_err *err);
void cmk_volume_close(struct cmk_volume *vol);

/* Writes a fresh header (new file id and DEK, wrapped by the newest CMK
 * version) to an empty backing file and returns its XTS context. */
int cmk_volume_new_file(struct cmk_volume *vol, int fd, struct cmk_xts **xts,
			struct cmk_err *err);
/* Reads and unwraps a backing file's header. -EBADMSG for a damaged or
 * foreign header, -ENOKEY/-EACCES when its CMK version is not available. */
int cmk_volume_open_file(struct cmk_volume *vol, int fd, struct cmk_xts **xts,
			 struct cmk_err *err);

/* Fetches the key service's enabled versions into kr, newest first marked
 * newest. Versions that fail to fetch (other than the newest) are logged
 * and skipped. */
int cmk_volume_load_keyring(struct cmk_kms *kms, struct cmk_keyring *kr,
			    struct cmk_err *err);

#endif
