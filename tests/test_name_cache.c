/* SPDX-License-Identifier: MIT */
/* The cache of name translations: hits only for the same directory id and
 * name, replacement within a slot, limits, and concurrent use. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fs/name_cache.h"

static void dirid_of(unsigned n, uint8_t dirid[CMK_DIRID_LEN])
{
	memset(dirid, 0, CMK_DIRID_LEN);
	memcpy(dirid, &n, sizeof(n));
}

static void test_basics(void)
{
	struct cmk_name_cache *cache;
	uint8_t d1[CMK_DIRID_LEN], d2[CMK_DIRID_LEN];
	char plain[CMK_NAME_CACHE_MAX + 1], entry[300], name[300];

	dirid_of(1, d1);
	dirid_of(2, d2);
	CHECK_EQ_INT(cmk_name_cache_new(100, &cache), 0);
	CHECK(!cmk_name_cache_get(cache, d1, "ENC_a", plain));
	cmk_name_cache_put(cache, d1, "ENC_a", "anna.jpg");
	strcpy(plain, "unchanged");
	CHECK(cmk_name_cache_get(cache, d1, "ENC_a", plain));
	CHECK(strcmp(plain, "anna.jpg") == 0);
	/* Another directory, or a backing name that is a prefix or an
	 * extension of a cached one, is a miss. */
	CHECK(!cmk_name_cache_get(cache, d2, "ENC_a", plain));
	CHECK(!cmk_name_cache_get(cache, d1, "ENC_", plain));
	CHECK(!cmk_name_cache_get(cache, d1, "ENC_ab", plain));
	/* The same backing name in two directories: two entries. */
	cmk_name_cache_put(cache, d2, "ENC_a", "other.jpg");
	CHECK(cmk_name_cache_get(cache, d2, "ENC_a", plain) &&
	      strcmp(plain, "other.jpg") == 0);
	/* Putting again replaces. */
	cmk_name_cache_put(cache, d1, "ENC_a", "bob.jpg");
	CHECK(cmk_name_cache_get(cache, d1, "ENC_a", plain) &&
	      strcmp(plain, "bob.jpg") == 0);
	/* Names at the limits: a 255-byte backing name and plaintext are
	 * cached; a backing name longer than a directory entry is not. */
	memset(entry, 'E', 255);
	entry[255] = '\0';
	memset(name, 'p', 255);
	name[255] = '\0';
	cmk_name_cache_put(cache, d1, entry, name);
	CHECK(cmk_name_cache_get(cache, d1, entry, plain) &&
	      strcmp(plain, name) == 0);
	memset(entry, 'F', 256);
	entry[256] = '\0';
	cmk_name_cache_put(cache, d1, entry, "x");
	CHECK(!cmk_name_cache_get(cache, d1, entry, plain));
	cmk_name_cache_free(cache);
	cmk_name_cache_free(NULL);
}

/* More names than slots: the cache stays bounded (entries are replaced),
 * and whatever it still holds is right. */
static void test_bounded(void)
{
	struct cmk_name_cache *cache;
	uint8_t d[CMK_DIRID_LEN];
	char plain[CMK_NAME_CACHE_MAX + 1], entry[64], name[64];
	unsigned hits = 0, wrong = 0;

	dirid_of(7, d);
	CHECK_EQ_INT(cmk_name_cache_new(64, &cache), 0);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(entry, sizeof(entry), "enc%u", i);
		snprintf(name, sizeof(name), "img%05u.jpg", i);
		cmk_name_cache_put(cache, d, entry, name);
	}
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(entry, sizeof(entry), "enc%u", i);
		snprintf(name, sizeof(name), "img%05u.jpg", i);
		if (cmk_name_cache_get(cache, d, entry, plain)) {
			hits++;
			wrong += strcmp(plain, name) != 0;
		}
	}
	CHECK(hits > 0);
	CHECK(hits <= 64);
	CHECK_EQ_INT(wrong, 0);
	cmk_name_cache_free(cache);
}

struct worker {
	struct cmk_name_cache *cache;
	unsigned id;
	unsigned wrong;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char plain[CMK_NAME_CACHE_MAX + 1], entry[64], name[64];
	uint8_t d[CMK_DIRID_LEN];

	for (unsigned i = 0; i < 200000; i++) {
		unsigned k = (i * 2654435761u + w->id) % 5000;

		dirid_of(k % 3, d);
		snprintf(entry, sizeof(entry), "e%u", k);
		snprintf(name, sizeof(name), "n%u-%u", k, k % 3);
		if (i % 3 == 0)
			cmk_name_cache_put(w->cache, d, entry, name);
		else if (cmk_name_cache_get(w->cache, d, entry, plain))
			w->wrong += strcmp(plain, name) != 0;
	}
	return NULL;
}

static void test_threads(void)
{
	struct worker workers[4];
	pthread_t threads[4];
	struct cmk_name_cache *cache;

	CHECK_EQ_INT(cmk_name_cache_new(1024, &cache), 0);
	for (unsigned i = 0; i < 4; i++) {
		workers[i] = (struct worker){ cache, i, 0 };
		pthread_create(&threads[i], NULL, work, &workers[i]);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		CHECK_EQ_INT(workers[i].wrong, 0);
	}
	cmk_name_cache_free(cache);
}

int main(void)
{
	test_basics();
	test_bounded();
	test_threads();
	return check_exit();
}
