/* SPDX-License-Identifier: MIT */
/* The CMK versions a process holds, each key in locked memory. Safe to use
 * from many threads: keys are copied out under a lock, so a version can be
 * removed (revoked) while others read. */
#ifndef CMKFS_CRYPTO_KEYRING_H
#define CMKFS_CRYPTO_KEYRING_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/format.h"

struct cmk_keyring;

int cmk_keyring_new(struct cmk_keyring **out);
/* Wipes every key. */
void cmk_keyring_free(struct cmk_keyring *kr);

/* Adds or replaces version's key (copied). newest: the version that wraps
 * the DEKs of new files. */
int cmk_keyring_add(struct cmk_keyring *kr, const char *version,
		    const uint8_t cmk[CMK_KEY_LEN], bool newest);
/* Wipes and drops a version; -ENOENT when absent. */
int cmk_keyring_remove(struct cmk_keyring *kr, const char *version);

/* Bumped each time a version is removed: a cheap check for holders of a
 * file's cipher that their version may be gone. */
uint64_t cmk_keyring_generation(struct cmk_keyring *kr);
bool cmk_keyring_has(struct cmk_keyring *kr, const char *version);
/* Makes a held version the one for new files; -ENOENT when absent. */
int cmk_keyring_set_newest(struct cmk_keyring *kr, const char *version);
/* Copies up to max held version ids into ids; returns how many are held. */
size_t cmk_keyring_versions(struct cmk_keyring *kr,
			    char (*ids)[CMK_VERSION_MAX + 1], size_t max);

/* Copies version's key into cmk (a secure buffer); -ENOKEY when absent. */
int cmk_keyring_get(struct cmk_keyring *kr, const char *version,
		    uint8_t cmk[CMK_KEY_LEN]);
/* Copies the newest version's id and key; -ENOKEY when there is none. */
int cmk_keyring_get_newest(struct cmk_keyring *kr,
			   char version[CMK_VERSION_MAX + 1],
			   uint8_t cmk[CMK_KEY_LEN]);

/* Unwraps a file's DEK from the active slot of a parsed header (the valid
 * one with the highest sequence number; the other slot is only the
 * fallback for a torn re-wrap, which parsing already handles). -ENOKEY
 * when the keyring lacks its version (the message names it), -EBADMSG when
 * its tag does not verify. slot_used may be NULL. */
int cmk_keyring_unwrap(struct cmk_keyring *kr,
		       const uint8_t hdr[CMK_HEADER_SIZE],
		       const struct cmk_header_info *info,
		       uint8_t dek[CMK_KEY_LEN], int *slot_used,
		       struct cmk_err *err);

#endif
