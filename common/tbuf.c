/* SPDX-License-Identifier: MIT */
/* Per-thread scratch buffers (see tbuf.h). */
#include "common/tbuf.h"

#include <pthread.h>
#include <stdlib.h>

struct tbufs {
	uint8_t *buf[CMK_TBUF_SLOTS];
	size_t cap[CMK_TBUF_SLOTS];
};

static pthread_key_t tbuf_key;
static pthread_once_t tbuf_once = PTHREAD_ONCE_INIT;

static void tbufs_free(void *arg)
{
	struct tbufs *t = arg;

	for (int i = 0; i < CMK_TBUF_SLOTS; i++)
		free(t->buf[i]);
	free(t);
}

static void tbuf_init(void)
{
	pthread_key_create(&tbuf_key, tbufs_free);
}

uint8_t *cmk_tbuf(enum cmk_tbuf_slot slot, size_t len)
{
	struct tbufs *t;
	uint8_t *grown;
	size_t cap;

	pthread_once(&tbuf_once, tbuf_init);
	t = pthread_getspecific(tbuf_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || pthread_setspecific(tbuf_key, t) != 0) {
			free(t);
			return NULL;
		}
	}
	if (len <= t->cap[slot])
		return t->buf[slot];
	/* Whole pages, at least 64 KiB: few regrowths. */
	cap = len < 65536 ? 65536 : (len + 4095) & ~(size_t)4095;
	grown = realloc(t->buf[slot], cap);
	if (!grown)
		return NULL;
	t->buf[slot] = grown;
	t->cap[slot] = cap;
	return grown;
}
