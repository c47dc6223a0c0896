/* SPDX-License-Identifier: MIT */
#include "fs/name_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

#define LOCK_STRIPES 64u /* a power of two */

struct nc_entry {
	uint8_t dirid[CMK_DIRID_LEN];
	uint16_t key_len;
	uint16_t value_len;
	char data[]; /* key, NUL, value, NUL */
};

struct cmk_name_cache {
	size_t mask;   /* slots - 1 */
	uint64_t seed; /* random: slots cannot be aimed at from outside */
	struct nc_entry **slots;
	pthread_mutex_t locks[LOCK_STRIPES];
};

int cmk_name_cache_new(size_t slots, struct cmk_name_cache **out)
{
	struct cmk_name_cache *cache;
	size_t n = LOCK_STRIPES;

	while (n < slots && n < ((size_t)1 << 30))
		n <<= 1;
	cache = calloc(1, sizeof(*cache));
	if (!cache)
		return -ENOMEM;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	cache->slots = calloc(n, sizeof(*cache->slots));
	if (!cache->slots) {
		free(cache);
		return -ENOMEM;
	}
	cache->mask = n - 1;
	cmk_random(&cache->seed, sizeof(cache->seed));
	for (unsigned i = 0; i < LOCK_STRIPES; i++)
		pthread_mutex_init(&cache->locks[i], NULL);
	*out = cache;
	return 0;
}

void cmk_name_cache_free(struct cmk_name_cache *cache)
{
	if (!cache)
		return;
	for (size_t i = 0; i <= cache->mask; i++)
		free(cache->slots[i]);
	for (unsigned i = 0; i < LOCK_STRIPES; i++)
		pthread_mutex_destroy(&cache->locks[i]);
	free(cache->slots);
	free(cache);
}

/* FNV-1a over the seed, the directory id and the name, then a final mix
 * so that the low bits (the slot) depend on every input byte. */
static size_t slot_of(const struct cmk_name_cache *cache,
		      const uint8_t dirid[CMK_DIRID_LEN], const char *key,
		      size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ cache->seed;

	for (size_t i = 0; i < CMK_DIRID_LEN; i++)
		h = (h ^ dirid[i]) * 0x100000001b3ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)key[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (size_t)h & cache->mask;
}

bool cmk_name_cache_get(struct cmk_name_cache *cache,
			const uint8_t dirid[CMK_DIRID_LEN], const char *key,
			char value[CMK_NAME_CACHE_MAX + 1])
{
	size_t len = strlen(key);
	size_t slot = slot_of(cache, dirid, key, len);
	pthread_mutex_t *lock = &cache->locks[slot & (LOCK_STRIPES - 1)];
	struct nc_entry *e;
	bool hit = false;

	pthread_mutex_lock(lock);
	e = cache->slots[slot];
	if (e && e->key_len == len &&
	    memcmp(e->dirid, dirid, CMK_DIRID_LEN) == 0 &&
	    memcmp(e->data, key, len) == 0) {
		memcpy(value, e->data + len + 1, (size_t)e->value_len + 1);
		hit = true;
	}
	pthread_mutex_unlock(lock);
	return hit;
}

void cmk_name_cache_put(struct cmk_name_cache *cache,
			const uint8_t dirid[CMK_DIRID_LEN], const char *key,
			const char *value)
{
	size_t len = strlen(key), value_len = strlen(value);
	struct nc_entry *e, *old;
	pthread_mutex_t *lock;
	size_t slot;

	if (len > CMK_NAME_CACHE_MAX || value_len > CMK_NAME_CACHE_MAX)
		return;
	/* Allocated outside the lock; a failed allocation only means a
	 * miss next time. */
	e = malloc(sizeof(*e) + len + value_len + 2);
	if (!e)
		return;
	memcpy(e->dirid, dirid, CMK_DIRID_LEN);
	e->key_len = (uint16_t)len;
	e->value_len = (uint16_t)value_len;
	memcpy(e->data, key, len + 1);
	memcpy(e->data + len + 1, value, value_len + 1);
	slot = slot_of(cache, dirid, key, len);
	lock = &cache->locks[slot & (LOCK_STRIPES - 1)];
	pthread_mutex_lock(lock);
	old = cache->slots[slot];
	cache->slots[slot] = e;
	pthread_mutex_unlock(lock);
	free(old);
}
