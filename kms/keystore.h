/* The local keystore (provider = file): the built-in default key service.
 * Administration commands behind `cmkfs key ...`. */
#ifndef CMKFS_KMS_KEYSTORE_H
#define CMKFS_KMS_KEYSTORE_H

#include <stdbool.h>

#include "common/err.h"
#include "conf/conf.h"
#include "kms/kms.h"

/* Creates the keystore named by the config with version "1" enabled; mode
 * 0600; -EEXIST when the file exists. new_version receives "1". */
int cmk_keystore_create(const struct cmk_conf *conf,
			char new_version[CMK_VERSION_MAX + 1],
			struct cmk_err *err);
/* Adds a new, enabled version (one more than the highest). */
int cmk_keystore_rotate(const struct cmk_conf *conf,
			char new_version[CMK_VERSION_MAX + 1],
			struct cmk_err *err);
int cmk_keystore_set_enabled(const struct cmk_conf *conf, const char *version,
			     bool enabled, struct cmk_err *err);

#endif
