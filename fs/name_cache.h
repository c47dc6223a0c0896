/* SPDX-License-Identifier: MIT */
/* A bounded cache of file name translations, (directory id, name) -> name,
 * used in both directions: backing entry -> plaintext name, so that
 * listing a directory again does not decrypt (or, for long names, read the
 * side file of) every entry again; and plaintext name -> backing entry, so
 * that a lookup and the create that follows it encrypt the name once.
 *
 * Never stale by construction: either side is a function of the other, the
 * volume's name key and the directory id, none of which changes while a
 * volume is mounted (a directory keeps its id when it is renamed; a long
 * name's backing name is a hash of its encrypted form). So entries are
 * never invalidated, only evicted. Direct-mapped: a new entry replaces
 * whatever was in its slot. Thread-safe. */
#ifndef CMKFS_FS_NAME_CACHE_H
#define CMKFS_FS_NAME_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/names.h"

struct cmk_name_cache;

/* slots: how many names it holds at most (rounded up to a power of two).
 * 0 or -ENOMEM. */
int cmk_name_cache_new(size_t slots, struct cmk_name_cache **out);
void cmk_name_cache_free(struct cmk_name_cache *cache);

/* Names up to NAME_MAX (255) bytes, either side. */
#define CMK_NAME_CACHE_MAX 255

/* The name cached for key in the directory dirid, copied into value
 * (NUL-terminated): true on a hit. */
bool cmk_name_cache_get(struct cmk_name_cache *cache,
			const uint8_t dirid[CMK_DIRID_LEN], const char *key,
			char value[CMK_NAME_CACHE_MAX + 1]);
/* Remembers that key in dirid is value. Longer names are not cached. */
void cmk_name_cache_put(struct cmk_name_cache *cache,
			const uint8_t dirid[CMK_DIRID_LEN], const char *key,
			const char *value);

#endif
