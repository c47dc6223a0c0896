/* SPDX-License-Identifier: MIT */
/* Inside the key-service layer: the local keystore's limits and test
 * hooks (its provider table is declared in kms/provider.h). Not for use
 * outside kms/ (tests excepted). */
#ifndef CMKFS_KMS_KEYSTORE_INTERNAL_H
#define CMKFS_KMS_KEYSTORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "conf/conf.h"
#include "kms/kms.h"
#include "kms/provider.h"

/* A bigger keystore file is refused unread. */
#define CMK_KEYSTORE_MAX_SIZE (256u * 1024u) /* fits the 1 MiB locked heap */

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
