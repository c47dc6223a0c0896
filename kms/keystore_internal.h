/* Inside the key-service layer: the provider interface that kms.c
 * dispatches through, the local keystore's provider, and its limits.
 * Not for use outside kms/ (tests excepted). */
#ifndef CMKFS_KMS_KEYSTORE_INTERNAL_H
#define CMKFS_KMS_KEYSTORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "conf/conf.h"
#include "kms/kms.h"

/* One key service. Every provider fills this table; kms.c checks the
 * arguments, picks the table by conf->provider and calls through it.
 * fetch writes CMK_KEY_LEN bytes into cmk and, when version is NULL, the id
 * of the newest enabled version into version_out (never NULL here). */
struct cmk_kms_provider {
	const char *name; /* as written in the config: "file" */
	/* The CMK's name, from the provider's section of conf. */
	const char *(*key_name)(const struct cmk_conf *conf);
	int (*open)(const struct cmk_conf *conf, void **state,
		    struct cmk_err *err);
	int (*list_versions)(void *state, struct cmk_kms_version **versions,
			     size_t *count, struct cmk_err *err);
	int (*fetch)(void *state, const char *version, uint8_t *cmk,
		     char version_out[CMK_VERSION_MAX + 1],
		     struct cmk_err *err);
	void (*close)(void *state);
};

extern const struct cmk_kms_provider cmk_keystore_provider;

/* A bigger keystore file is refused unread. */
#define CMK_KEYSTORE_MAX_SIZE (1u << 20)

/* scrypt parameters that a keystore may name: n a power of two in
 * [2^14, 2^22], r <= 32, p <= 16, and at most 512 MiB of memory
 * (128 * n * r), so that a hostile file cannot make us allocate gigabytes. */
#define CMK_KEYSTORE_SCRYPT_N_MIN (1u << 14)
#define CMK_KEYSTORE_SCRYPT_N_MAX (1u << 22)
#define CMK_KEYSTORE_SCRYPT_R_MAX 32u
#define CMK_KEYSTORE_SCRYPT_P_MAX 16u
#define CMK_KEYSTORE_SCRYPT_MEM_MAX (512ull << 20)
#define CMK_KEYSTORE_SCRYPT_N_DEFAULT (1u << 15)

/* Sets the scrypt n that cmk_keystore_create() uses for a new sealed
 * keystore (tests lower it to 2^14 to run fast). -EINVAL when out of
 * bounds. Not thread-safe: call before any keystore is created. */
int cmk_keystore_set_create_scrypt_n(uint64_t n);

#endif
