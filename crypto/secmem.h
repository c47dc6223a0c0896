/* SPDX-License-Identifier: MIT */
/* The locked heap (crypto/secmem.c): memory that is mlock'ed, excluded from
 * core dumps, fenced by guard pages and wiped when freed. Everything that
 * may hold key material is allocated here: cmk_secure_alloc(), every
 * allocation of OpenSSL, libcurl and jansson. No OpenSSL in here, so that
 * other modules may include it. */
#ifndef CMKFS_CRYPTO_SECMEM_H
#define CMKFS_CRYPTO_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

/* Maps and locks the first chunk: -ENOMEM when even that is refused
 * (RLIMIT_MEMLOCK; the reason is logged). Called by cmk_crypto_init(). */
int cmk_locked_init(void);

/* malloc(3) and friends on the locked heap. Blocks come zeroed; free wipes
 * the whole block. NULL (errno ENOMEM) when no more memory can be locked:
 * the first such failure logs one line naming RLIMIT_MEMLOCK. */
void *cmk_locked_malloc(size_t len);
void *cmk_locked_realloc(void *ptr, size_t len);
void cmk_locked_free(void *ptr);
char *cmk_locked_strdup(const char *s);
void *cmk_locked_calloc(size_t count, size_t size);

/* True when ptr is a block the locked heap handed out (or inside one). */
bool cmk_locked_owns(const void *ptr);

/* Bytes mapped and locked, and bytes in blocks handed out. */
void cmk_locked_stats(size_t *locked, size_t *in_use);

/* Wipes CMK_BURN_STACK_BYTES of the calling thread's stack below the
 * current frame: called after code that had raw keys in its locals. */
#define CMK_BURN_STACK_BYTES 16384
void cmk_burn_stack(void);

#endif
