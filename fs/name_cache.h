/* A bounded cache of decrypted file names: (directory id, backing entry
 * name) -> plaintext name, so that listing a directory again does not
 * decrypt (or, for long names, read the side file of) every entry again.
 *
 * Never stale by construction: the plaintext is a function of the
 * volume's name key, the directory id and the backing name, none of which
 * changes while a volume is mounted (a directory keeps its id when it is
 * renamed; a long name's backing name is a hash of its encrypted form).
 * So entries are never invalidated, only evicted. Direct-mapped: a new
 * entry replaces whatever was in its slot. Thread-safe. */
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

/* The plaintext name cached for backing entry in the directory dirid,
 * copied into plain (NUL-terminated): true on a hit. */
bool cmk_name_cache_get(struct cmk_name_cache *cache,
			const uint8_t dirid[CMK_DIRID_LEN], const char *entry,
			char plain[CMK_NAME_PLAIN_MAX + 1]);
/* Remembers that backing entry in dirid is plain. Names longer than a
 * directory entry allows are not cached. */
void cmk_name_cache_put(struct cmk_name_cache *cache,
			const uint8_t dirid[CMK_DIRID_LEN], const char *entry,
			const char *plain);

#endif
