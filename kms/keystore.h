/* SPDX-License-Identifier: MIT */
/* The local keystore (provider = file): the built-in default key service.
 * Administration commands behind `cmkfs key ...`. */
#ifndef CMKFS_KMS_KEYSTORE_H
#define CMKFS_KMS_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "conf/conf.h"
#include "kms/kms.h"

/* Creates the keystore named by the config with version "1" enabled; mode
 * 0600; -EEXIST when the file exists. new_version receives "1". */
int cmk_keystore_create(const struct cmk_conf *conf,
			char new_version[CMK_KMS_VERSION_MAX + 1],
			struct cmk_err *err);
/* Adds a new, enabled version (one more than the highest). */
int cmk_keystore_rotate(const struct cmk_conf *conf,
			char new_version[CMK_KMS_VERSION_MAX + 1],
			struct cmk_err *err);
int cmk_keystore_set_enabled(const struct cmk_conf *conf, const char *version,
			     bool enabled, struct cmk_err *err);

/* `cmkfs key passwd`: opens every version with the current passphrase
 * (the one the config names; none for an unsealed keystore) and writes
 * the keystore sealed anew under new_pass (new_len bytes) with a fresh
 * salt, or unsealed when new_pass is NULL. -EKEYREJECTED for a wrong
 * current passphrase; nothing is written then. */
int cmk_keystore_passwd(const struct cmk_conf *conf, const uint8_t *new_pass,
			size_t new_len, struct cmk_err *err);

/* How the keystore gets a passphrase when the config says
 * passphrase_prompt: the program registers an asker (the CLI asks on the
 * terminal, fs/prompt.c), which writes at most max bytes into pass, sets
 * *len and returns 0 or -errno with err set; confirm: ask twice. Without
 * one, a keystore with passphrase_prompt cannot be opened. */
typedef int (*cmk_keystore_prompt_fn)(const char *keystore, bool confirm,
				      uint8_t *pass, size_t max, size_t *len,
				      struct cmk_err *err);
void cmk_keystore_set_prompt(cmk_keystore_prompt_fn fn);

/* A passphrase into locked memory of the size cmk_keystore_passwd()
 * accepts (free it with cmk_secure_free(*pass, CMK_KEYSTORE_PASS_MAX)):
 * the content of file (its last newline dropped; owner-only, not empty),
 * or, when file is NULL, asked twice through the registered asker. */
#define CMK_KEYSTORE_PASS_MAX 1024
int cmk_keystore_read_passphrase(const char *file, const char *label,
				 uint8_t **pass, size_t *len,
				 struct cmk_err *err);

#endif
