/* SPDX-License-Identifier: MIT */
/* The locked heap: every byte that may hold key material lives here.
 *
 * Blocks of 16 bytes to 64 KiB come in power-of-two size classes, carved
 * from 1 MiB chunks. A chunk is an mmap'ed region between two PROT_NONE
 * guard pages, excluded from core dumps (MADV_DONTDUMP) and locked into
 * RAM. Each 64 KiB slab of a chunk serves one size class, so a pointer's
 * class follows from its address: blocks carry no header. Larger blocks
 * get a guarded, locked mapping of their own. Every free wipes the whole
 * block, so a block handed out is always zeroed (fresh mappings are too).
 *
 * mlock goes through syscall(2): the sanitizer runtimes intercept mlock()
 * and make it a no-op. When the kernel refuses to lock more memory
 * (RLIMIT_MEMLOCK without CAP_IPC_LOCK), the allocation fails and one log
 * line names the limit: there is no unlocked fallback.
 *
 * Chunks are never given back: the heap stays at its high-water mark. */
#include "crypto/secmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define SECMEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECMEM_ASAN 1
#endif
#endif
#ifdef SECMEM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
/* LeakSanitizer does not look into mappings of our own: without this, an
 * object of the ordinary heap that only a block here points to (a curl or
 * OpenSSL handle's user data) would be reported as leaked. */
#define ROOT(p, n) __lsan_register_root_region((p), (n))
#define UNROOT(p, n) __lsan_unregister_root_region((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define ROOT(p, n) ((void)(p), (void)(n))
#define UNROOT(p, n) ((void)(p), (void)(n))
#endif

#define MIN_SHIFT 4  /* 16 bytes */
#define MAX_SHIFT 16 /* 64 KiB */
#define NCLASS (MAX_SHIFT - MIN_SHIFT + 1)
#define SLAB_SHIFT MAX_SHIFT /* one slab holds one class */
#define SLAB_SIZE ((size_t)1 << SLAB_SHIFT)
#define CHUNK_SIZE ((size_t)1 << 20)
#define SLABS (CHUNK_SIZE / SLAB_SIZE)
#define NO_CLASS 0xff

struct range {
	uint8_t *base; /* first usable byte (after the front guard page) */
	size_t len;    /* usable bytes: CHUNK_SIZE, or a large block's */
	bool chunk;
	uint8_t slab_class[SLABS]; /* chunks: the class of each slab */
};

struct free_block {
	struct free_block *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct free_block *free_list[NCLASS];
static uint8_t *bump[NCLASS], *bump_end[NCLASS]; /* current slab per class */
/* Ranges, in order of creation; a chunk is found by a linear search, which
 * is short: 8 MiB of RLIMIT_MEMLOCK is 7 chunks. */
static struct range *ranges;
static size_t nranges, ranges_cap;
static size_t mapped_bytes, used_bytes;
static size_t page_size;
static bool limit_logged;
static bool mlock_refused; /* the last map_locked() failed in mlock */

/* The bytes (rounded to pages) a guarded mapping of len usable bytes
 * needs, and a mapping with guards and locks. NULL and errno on failure. */
static uint8_t *map_locked(size_t len)
{
	size_t total = len + 2 * page_size;
	uint8_t *m;

	mlock_refused = false;
	m = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m + page_size, len, PROT_READ | PROT_WRITE) != 0)
		goto fail;
	/* Before the lock: a locked page must never reach a core file. */
	if (madvise(m + page_size, len, MADV_DONTDUMP) != 0)
		goto fail;
	if (syscall(SYS_mlock, m + page_size, len) != 0) {
		mlock_refused = true;
		goto fail;
	}
	ROOT(m + page_size, len);
	return m + page_size;
fail : {
	int saved = errno;

	munmap(m, total);
	errno = saved;
	return NULL;
}
}

static void unmap_locked(uint8_t *base, size_t len)
{
	UNROOT(base, len);
	munmap(base - page_size, len + 2 * page_size);
}

/* Once per process: one log line naming the limit that stopped us. */
static void log_limit(size_t want, int err)
{
	struct rlimit lim = { 0, 0 };

	/* Only a refused lock is the limit's doing (not an mmap failure). */
	if (limit_logged || !mlock_refused)
		return;
	limit_logged = true;
	getrlimit(RLIMIT_MEMLOCK, &lim);
	cmk_log(LOG_ERR, CMK_MSG_LIMITS,
		"cannot lock %zu KiB more key memory (%zu KiB locked): "
		"RLIMIT_MEMLOCK is %llu KiB (%s); raise it (LimitMEMLOCK=, "
		"ulimit -l) or run as root",
		want >> 10, mapped_bytes >> 10,
		lim.rlim_cur == RLIM_INFINITY
			? 0ULL
			: (unsigned long long)(lim.rlim_cur >> 10),
		strerror(err));
}

static bool add_range(uint8_t *base, size_t len, bool chunk)
{
	struct range *r;

	if (nranges == ranges_cap) {
		size_t cap = ranges_cap ? 2 * ranges_cap : 16;
		/* Addresses and sizes only: no secret in the ordinary heap. */
		struct range *grown = realloc(ranges, cap * sizeof(*grown));

		if (!grown)
			return false;
		ranges = grown;
		ranges_cap = cap;
	}
	r = &ranges[nranges++];
	r->base = base;
	r->len = len;
	r->chunk = chunk;
	memset(r->slab_class, NO_CLASS, sizeof(r->slab_class));
	return true;
}

static struct range *find_range(const void *ptr)
{
	const uint8_t *p = ptr;

	for (size_t i = nranges; i-- > 0;)
		if (p >= ranges[i].base && p < ranges[i].base + ranges[i].len)
			return &ranges[i];
	return NULL;
}

static void init_page_size(void)
{
	if (!page_size)
		page_size = (size_t)sysconf(_SC_PAGESIZE);
}

/* A fresh slab for class c: from a chunk with a free slab, else a new one. */
static bool new_slab(unsigned c)
{
	uint8_t *base;

	for (size_t i = 0; i < nranges; i++) {
		struct range *r = &ranges[i];

		if (!r->chunk)
			continue;
		for (size_t s = 0; s < SLABS; s++)
			if (r->slab_class[s] == NO_CLASS) {
				r->slab_class[s] = (uint8_t)c;
				bump[c] = r->base + s * SLAB_SIZE;
				bump_end[c] = bump[c] + SLAB_SIZE;
				return true;
			}
	}
	base = map_locked(CHUNK_SIZE);
	if (!base) {
		log_limit(CHUNK_SIZE, errno);
		return false;
	}
	if (!add_range(base, CHUNK_SIZE, true)) {
		unmap_locked(base, CHUNK_SIZE);
		return false;
	}
	POISON(base, CHUNK_SIZE);
	mapped_bytes += CHUNK_SIZE;
	ranges[nranges - 1].slab_class[0] = (uint8_t)c;
	bump[c] = base;
	bump_end[c] = base + SLAB_SIZE;
	return true;
}

static unsigned size_class(size_t len)
{
	unsigned c = 0;

	while (((size_t)1 << (c + MIN_SHIFT)) < len)
		c++;
	return c;
}

static void *alloc_large(size_t len)
{
	size_t mlen;
	uint8_t *base;

	/* Rounded up with both guard pages, it must not wrap. */
	if (len > SIZE_MAX - 3 * page_size) {
		errno = ENOMEM;
		return NULL;
	}
	mlen = (len + page_size - 1) & ~(page_size - 1);
	base = map_locked(mlen);
	if (!base) {
		log_limit(mlen, errno);
		errno = ENOMEM;
		return NULL;
	}
	if (!add_range(base, mlen, false)) {
		unmap_locked(base, mlen);
		errno = ENOMEM;
		return NULL;
	}
	mapped_bytes += mlen;
	used_bytes += mlen;
	return base;
}

void *cmk_locked_malloc(size_t len)
{
	struct free_block *b;
	unsigned c;
	void *p = NULL;

	pthread_mutex_lock(&lock);
	init_page_size();
	if (len > SLAB_SIZE) {
		p = alloc_large(len);
		pthread_mutex_unlock(&lock);
		return p;
	}
	c = size_class(len ? len : 1);
	b = free_list[c];
	if (b) {
		UNPOISON(b, sizeof(*b));
		free_list[c] = b->next;
		b->next = NULL; /* blocks are handed out zeroed */
		p = b;
	} else if (bump[c] != bump_end[c] || new_slab(c)) {
		p = bump[c];
		bump[c] += (size_t)1 << (c + MIN_SHIFT);
	}
	if (p) {
		UNPOISON(p, (size_t)1 << (c + MIN_SHIFT));
		used_bytes += (size_t)1 << (c + MIN_SHIFT);
	} else {
		errno = ENOMEM;
	}
	pthread_mutex_unlock(&lock);
	return p;
}

/* The usable size of a block of the heap, 0 when ptr is not one. Called
 * with the lock held. */
static size_t block_size(const void *ptr, struct range **out)
{
	struct range *r = find_range(ptr);
	size_t slab;

	*out = r;
	if (!r)
		return 0;
	if (!r->chunk)
		return r->len;
	slab = (size_t)((const uint8_t *)ptr - r->base) >> SLAB_SHIFT;
	if (r->slab_class[slab] == NO_CLASS)
		return 0;
	return (size_t)1 << (r->slab_class[slab] + MIN_SHIFT);
}

void cmk_locked_free(void *ptr)
{
	struct free_block *b = ptr;
	struct range *r;
	size_t size;

	if (!ptr)
		return;
	pthread_mutex_lock(&lock);
	size = block_size(ptr, &r);
	if (!size) {
		pthread_mutex_unlock(&lock);
		/* Not ours: a bug that must not go unnoticed. */
		abort();
	}
	explicit_bzero(ptr, size);
	used_bytes -= size;
	if (!r->chunk) {
		uint8_t *base = r->base;

		*r = ranges[--nranges];
		mapped_bytes -= size;
		unmap_locked(base, size);
	} else {
		unsigned c = size_class(size);

		b->next = free_list[c];
		free_list[c] = b;
		POISON(ptr, size);
	}
	pthread_mutex_unlock(&lock);
}

void *cmk_locked_realloc(void *ptr, size_t len)
{
	struct range *r;
	size_t size;
	void *fresh;

	if (!ptr)
		return cmk_locked_malloc(len);
	if (len == 0) {
		cmk_locked_free(ptr);
		return NULL;
	}
	pthread_mutex_lock(&lock);
	size = block_size(ptr, &r);
	pthread_mutex_unlock(&lock);
	if (!size)
		abort();
	if (len <= size && (len > size / 4 || size <= 64))
		return ptr; /* still locked, and the tail is wiped on free */
	fresh = cmk_locked_malloc(len);
	if (!fresh)
		return NULL;
	memcpy(fresh, ptr, size < len ? size : len);
	cmk_locked_free(ptr);
	return fresh;
}

void *cmk_locked_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	/* Blocks come zeroed: see the top of the file. */
	return cmk_locked_malloc(count * size);
}

char *cmk_locked_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *copy = cmk_locked_malloc(len);

	if (copy)
		memcpy(copy, s, len);
	return copy;
}

bool cmk_locked_owns(const void *ptr)
{
	struct range *r;
	bool owns;

	pthread_mutex_lock(&lock);
	owns = block_size(ptr, &r) != 0;
	pthread_mutex_unlock(&lock);
	return owns;
}

int cmk_locked_init(void)
{
	void *p;

	/* The first chunk is mapped and locked now, so that a limit too low
	 * for even that fails at start, not at the first key. The caller
	 * reports that failure: no log line of ours besides. */
	pthread_mutex_lock(&lock);
	limit_logged = true;
	pthread_mutex_unlock(&lock);
	p = cmk_locked_malloc(16);
	pthread_mutex_lock(&lock);
	limit_logged = false;
	pthread_mutex_unlock(&lock);
	if (!p)
		return -ENOMEM;
	cmk_locked_free(p);
	return 0;
}

void cmk_locked_stats(size_t *locked, size_t *in_use)
{
	pthread_mutex_lock(&lock);
	*locked = mapped_bytes;
	*in_use = used_bytes;
	pthread_mutex_unlock(&lock);
}

/* Wipes the stack below the caller's frame: OpenSSL leaves key bytes in
 * its locals (HKDF's PRK, HMAC's padded keys, key schedules being
 * built). noinline and the volatile pointer keep the compiler from
 * dropping the buffer or the wipe. */
__attribute__((noinline)) void cmk_burn_stack(void)
{
	char buf[CMK_BURN_STACK_BYTES];
	void *volatile p = buf;

	explicit_bzero(p, sizeof(buf));
	__asm__ volatile("" : : "r"(p) : "memory");
}
