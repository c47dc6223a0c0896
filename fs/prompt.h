/* SPDX-License-Identifier: MIT */
/* The terminal prompt for a keystore passphrase (passphrase_prompt). */
#ifndef CMKFS_FS_PROMPT_H
#define CMKFS_FS_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Asks on the controlling terminal with echo off, twice when confirm, for
 * the passphrase of keystore path: at most max bytes into pass, *len its
 * length. Signals wait until echo is back on. A cmk_keystore_prompt_fn. */
int cmk_prompt_passphrase(const char *path, bool confirm, uint8_t *pass,
			  size_t max, size_t *len, struct cmk_err *err);

#endif
