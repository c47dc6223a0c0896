/* SPDX-License-Identifier: MIT */
/* Concurrent writers through the mount. Four threads write four regions of
 * one file; the regions are not unit aligned (10000 bytes each), so
 * neighbours share units and every partial-unit write is a
 * read-modify-write that must not lose the neighbour's bytes. Each thread
 * writes its region in random-sized pieces in random order, with pwrite
 * through its own descriptor or a descriptor shared by all, and reads
 * back parts of its region as it goes. Four more threads write four files
 * of their own at the same time, and four append records to one O_APPEND
 * file, while a reader keeps opening the shared file and reading all of it:
 * every byte it sees must be the byte's old or new value, never a torn
 * unit. Then every byte is checked, and again after a remount.
 *
 * The kernel serializes write(2)s to one FUSE inode (i_rwsem) unless the
 * file system asks for parallel direct writes, so the writers of the shared
 * file reach cmkfs one at a time, interleaved; reads, and the writers of
 * different files, do reach it concurrently.
 *
 * usage: CMKFS=BINARY test_fs_parallel CIPHERDIR MOUNTPOINT CONF
 * env: CMKFS_TEST_SEED reproduces the plan (thread timing does not repeat). */
#include <pthread.h>

#include "fs_util.h"

#include "../check.h"

#define NREG 4
#define REGION 10000
#define SHARED_SIZE (NREG * REGION)
#define NOWN 4
#define OWN_SIZE 50000
#define NAPP 4
#define APP_RECORDS 150
#define ROUNDS 6

static struct fs_env env;
static uint64_t seed;
static int shared_fd = -1;
static pthread_barrier_t start;
static int writers_done; /* __atomic */

/* The content of region or file `who` in round `round`. */
static void content(uint8_t *buf, size_t len, int who, int round)
{
	uint64_t r = seed ^ ((uint64_t)who << 40) ^ ((uint64_t)round << 56);

	fs_fill(&r, buf, len);
}

struct worker {
	pthread_t thread;
	int id;
	int round;
	int kind; /* 0 region of the shared file, 1 own file, 2 appender,
		   * 3 reader of the shared file */
	uint64_t rng;
	char error[512];
};

static void fail_w(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail_w(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(w->error, sizeof(w->error), fmt, ap);
	va_end(ap);
}

/* Writes [base, base + len) of the file in random pieces in random order;
 * `have` is what the region holds now, updated piece by piece, and parts
 * of it are read back through `fd` while others write. */
static void write_pieces(struct worker *w, int fd, int other_fd, off_t base,
			 const uint8_t *want, uint8_t *have, size_t len,
			 bool reads_exact)
{
	size_t starts[1024], lens[1024], count = 0, pos = 0;
	uint8_t *got = malloc(len);

	if (!got) {
		fail_w(w, "out of memory");
		return;
	}
	while (pos < len && count < 1024) {
		size_t n = (size_t)fs_range(&w->rng, 1, 2500);

		if (fs_below(&w->rng, 4) == 0)
			n = (size_t)fs_range(&w->rng, 1, 20);
		if (n > len - pos)
			n = len - pos;
		starts[count] = pos;
		lens[count++] = n;
		pos += n;
	}
	if (pos < len) {
		lens[count - 1] = len - starts[count - 1];
	}
	for (size_t i = count; i > 1; i--) {
		size_t j = (size_t)fs_below(&w->rng, i), t;

		t = starts[i - 1], starts[i - 1] = starts[j], starts[j] = t;
		t = lens[i - 1], lens[i - 1] = lens[j], lens[j] = t;
	}
	for (size_t i = 0; i < count && !w->error[0]; i++) {
		size_t s = starts[i], n = lens[i];
		int wfd = other_fd >= 0 && fs_below(&w->rng, 2) ? other_fd : fd;
		int ret = fs_pwrite_all(wfd, want + s, n, base + (off_t)s);

		if (ret) {
			fail_w(w, "pwrite of %zu bytes at %lld: %s", n,
			       (long long)base + (long long)s, strerror(-ret));
			break;
		}
		memcpy(have + s, want + s, n);
		if (fs_below(&w->rng, 3) == 0) {
			size_t rs = (size_t)fs_below(&w->rng, len);
			size_t rn = (size_t)fs_range(&w->rng, 1,
						     (int64_t)(len - rs));
			ssize_t r =
				fs_pread_full(fd, got, rn, base + (off_t)rs);

			if (r < 0) {
				fail_w(w, "pread of %zu bytes at %lld: %s", rn,
				       (long long)base + (long long)rs,
				       strerror((int)-r));
			} else if ((reads_exact && (size_t)r != rn) ||
				   memcmp(got, have + rs, (size_t)r) != 0) {
				fail_w(w,
				       "while writing: pread of %zu bytes at "
				       "%lld got %zd bytes, differing from "
				       "what this thread wrote from byte %zu",
				       rn, (long long)base + (long long)rs, r,
				       (size_t)rs + fs_first_diff(got,
								  have + rs,
								  (size_t)r));
			}
		}
	}
	free(got);
}

static void *region_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t *want = malloc(REGION), *have = malloc(REGION);
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/shared", env.mnt);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (!want || !have || fd < 0) {
		fail_w(w, "open %s: %s", path, strerror(errno));
		pthread_barrier_wait(&start);
		goto out;
	}
	content(want, REGION, w->id, w->round);
	/* Before this round: the last round's content, or zeros after the
	 * truncation that starts the even rounds. */
	if (w->round % 2 == 1)
		content(have, REGION, w->id, w->round - 1);
	else
		memset(have, 0, REGION);
	pthread_barrier_wait(&start);
	write_pieces(w, fd, shared_fd, (off_t)w->id * REGION, want, have,
		     REGION, w->round % 2 == 1);
	if (close(fd) != 0)
		fail_w(w, "close: %s", strerror(errno));
out:
	free(want);
	free(have);
	return NULL;
}

static void *own_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t *want = malloc(OWN_SIZE), *have = calloc(1, OWN_SIZE);
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/own%d", env.mnt, w->id);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (!want || !have || fd < 0) {
		fail_w(w, "open %s: %s", path, strerror(errno));
		pthread_barrier_wait(&start);
		goto out;
	}
	content(want, OWN_SIZE, 100 + w->id, w->round);
	pthread_barrier_wait(&start);
	write_pieces(w, fd, -1, 0, want, have, OWN_SIZE, false);
	if (close(fd) != 0)
		fail_w(w, "close: %s", strerror(errno));
out:
	free(want);
	free(have);
	return NULL;
}

/* A record: "R", the thread, its number, its length (2 bytes each), then
 * bytes that depend on all three. */
static size_t record_len(int id, int n)
{
	return 700 + 37 * (size_t)id + (size_t)((n * 131) % 1500);
}

static void make_record(uint8_t *rec, int id, int n, int round)
{
	size_t len = record_len(id, n);

	content(rec, len, 1000 + id * 1000 + n, round);
	rec[0] = 'R';
	rec[1] = (uint8_t)id;
	rec[2] = (uint8_t)(n & 0xff);
	rec[3] = (uint8_t)(n >> 8);
	rec[4] = (uint8_t)(len & 0xff);
	rec[5] = (uint8_t)(len >> 8);
}

static void *append_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t rec[4096];
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/appended", env.mnt);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	pthread_barrier_wait(&start);
	if (fd < 0) {
		fail_w(w, "open %s: %s", path, strerror(errno));
		return NULL;
	}
	for (int n = 0; n < APP_RECORDS && !w->error[0]; n++) {
		int ret;

		make_record(rec, w->id, n, w->round);
		ret = fs_write_all(fd, rec, record_len(w->id, n));
		if (ret)
			fail_w(w, "append of record %d: %s", n, strerror(-ret));
	}
	if (close(fd) != 0)
		fail_w(w, "close: %s", strerror(errno));
	return NULL;
}

/* Reads the whole shared file again and again through new descriptors
 * (each open drops the cached pages, so the reads reach cmkfs) while the
 * region writers run. */
static void *reader_worker(void *arg)
{
	struct worker *w = arg;
	uint8_t *prev = calloc(1, SHARED_SIZE), *next = malloc(SHARED_SIZE);
	uint8_t *got = malloc(SHARED_SIZE);
	char path[4096];
	long passes = 0;

	snprintf(path, sizeof(path), "%s/shared", env.mnt);
	if (!prev || !next || !got)
		fail_w(w, "out of memory");
	for (int r = 0; r < NREG && next; r++) {
		content(next + (size_t)r * REGION, REGION, r, w->round);
		if (w->round % 2 == 1 && prev)
			content(prev + (size_t)r * REGION, REGION, r,
				w->round - 1);
	}
	pthread_barrier_wait(&start);
	while (!w->error[0] &&
	       (passes == 0 ||
		!__atomic_load_n(&writers_done, __ATOMIC_ACQUIRE))) {
		ssize_t n = fs_read_file(path, got, SHARED_SIZE);

		passes++;
		if (n < 0) {
			fail_w(w, "pass %ld: read: %s", passes,
			       strerror((int)-n));
			break;
		}
		for (size_t i = 0; i < (size_t)n; i++) {
			/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference,clang-analyzer-core.UndefinedBinaryOperatorResult): after a failed allocation, w->error ends the loop first */
			if (got[i] != prev[i] && got[i] != next[i]) {
				fail_w(w,
				       "pass %ld: byte %zu (unit %zu) is 0x%02x, "
				       "neither its old value 0x%02x nor its "
				       "new one 0x%02x",
				       passes, i, i / FS_UNIT, got[i], prev[i],
				       next[i]);
				break;
			}
		}
	}
	printf("round %d: the reader read the shared file %ld times\n",
	       w->round, passes);
	free(prev);
	free(next);
	free(got);
	return NULL;
}

/* Every byte of the three kinds of files, through new descriptors. */
static void verify(int round, const char *when)
{
	size_t cap = NAPP * APP_RECORDS * 4096;
	uint8_t *got = malloc(cap), *want = malloc(OWN_SIZE + 1);
	char path[4096];
	ssize_t n;

	if (!got || !want)
		exit(1);
	snprintf(path, sizeof(path), "%s/shared", env.mnt);
	n = fs_read_file(path, got, SHARED_SIZE + 1);
	CHECK_EQ_INT(n, SHARED_SIZE);
	for (int r = 0; r < NREG && n == SHARED_SIZE; r++) {
		const uint8_t *g = got + (size_t)r * REGION;

		content(want, REGION, r, round);
		if (memcmp(g, want, REGION) != 0) {
			size_t d = fs_first_diff(g, want, REGION) +
				   (size_t)r * REGION;

			fprintf(stderr,
				"%s, round %d: shared file differs at "
				"byte %zu (region %d, unit %zu)\n",
				when, round, d, r, d / FS_UNIT);
			CHECK(!"shared file content");
		}
	}
	CHECK(fs_check_backing(&env, "shared", SHARED_SIZE) == 0);
	for (int i = 0; i < NOWN; i++) {
		char rel[16];

		snprintf(rel, sizeof(rel), "own%d", i);
		snprintf(path, sizeof(path), "%s/%s", env.mnt, rel);
		n = fs_read_file(path, got, OWN_SIZE + 1);
		content(want, OWN_SIZE, 100 + i, round);
		CHECK_EQ_INT(n, OWN_SIZE);
		if (n == OWN_SIZE && memcmp(got, want, OWN_SIZE) != 0) {
			fprintf(stderr,
				"%s, round %d: own%d differs at byte "
				"%zu\n",
				when, round, i,
				fs_first_diff(got, want, OWN_SIZE));
			CHECK(!"own file content");
		}
		CHECK(fs_check_backing(&env, rel, OWN_SIZE) == 0);
	}
	/* Records in any order, each whole, each thread's in its order. */
	snprintf(path, sizeof(path), "%s/appended", env.mnt);
	n = fs_read_file(path, got, cap);
	size_t total = 0, pos = 0;
	int next[NAPP] = { 0 };
	uint8_t rec[4096];

	for (int id = 0; id < NAPP; id++)
		for (int k = 0; k < APP_RECORDS; k++)
			total += record_len(id, k);
	CHECK_EQ_INT(n, total);
	while (n > 0 && pos + 6 <= (size_t)n) {
		int id = got[pos + 1];
		int k = got[pos + 2] | got[pos + 3] << 8;

		if (got[pos] != 'R' || id >= NAPP || k != next[id] ||
		    pos + record_len(id, k) > (size_t)n) {
			fprintf(stderr,
				"%s, round %d: appended file: no record "
				"%d of thread %d at byte %zu\n",
				when, round, id < NAPP ? next[id] : -1, id,
				pos);
			CHECK(!"appended records");
			break;
		}
		make_record(rec, id, k, round);
		if (memcmp(got + pos, rec, record_len(id, k)) != 0) {
			fprintf(stderr,
				"%s, round %d: appended record %d of "
				"thread %d at byte %zu is damaged\n",
				when, round, k, id, pos);
			CHECK(!"appended record content");
			break;
		}
		next[id]++;
		pos += record_len(id, k);
	}
	CHECK(fs_check_backing(&env, "appended", (off_t)total) == 0);
	free(got);
	free(want);
}

static int run_round(int round)
{
	struct worker w[NREG + NOWN + NAPP + 1];
	void *(*fn[4])(void *) = { region_worker, own_worker, append_worker,
				   reader_worker };
	static const char *kinds[] = { "region", "own file", "appender",
				       "reader" };
	char path[4096];
	int nw = NREG + NOWN + NAPP + 1, failed = 0, fd;

	snprintf(path, sizeof(path), "%s/shared", env.mnt);
	shared_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	CHECK(shared_fd >= 0);
	if (shared_fd < 0)
		return -1;
	/* Even rounds start from an empty file: the writers race to extend
	 * it; odd rounds overwrite. */
	if (round % 2 == 0)
		CHECK(ftruncate(shared_fd, 0) == 0);
	snprintf(path, sizeof(path), "%s/appended", env.mnt);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	__atomic_store_n(&writers_done, 0, __ATOMIC_RELEASE);
	pthread_barrier_init(&start, NULL, (unsigned)nw);
	for (int i = 0; i < nw; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].kind = i < NREG		     ? 0
			    : i < NREG + NOWN	     ? 1
			    : i < NREG + NOWN + NAPP ? 2
						     : 3;
		w[i].id = i < NREG	    ? i
			  : i < NREG + NOWN ? i - NREG
					    : i - NREG - NOWN;
		w[i].round = round;
		w[i].rng = seed * 31 + (uint64_t)(round * 100 + i);
		if (pthread_create(&w[i].thread, NULL, fn[w[i].kind], &w[i])) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < nw; i++) {
		if (i == nw - 1) /* the reader, last */
			__atomic_store_n(&writers_done, 1, __ATOMIC_RELEASE);
		pthread_join(w[i].thread, NULL);
		check_count++;
		if (w[i].error[0]) {
			fprintf(stderr, "round %d, %s thread %d: %s\n", round,
				kinds[w[i].kind], w[i].id, w[i].error);
			check_failures++;
			failed = 1;
		}
	}
	pthread_barrier_destroy(&start);
	CHECK(close(shared_fd) == 0);
	shared_fd = -1;
	return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fs_env_init(&env, argc, argv, "") != 0)
		return 2;
	seed = fs_seed("test_fs_parallel");
	if (!fs_is_mounted(env.mnt)) {
		fprintf(stderr, "%s is not mounted\n", env.mnt);
		return 1;
	}
	for (int round = 0; round < ROUNDS; round++) {
		int before = check_failures;

		run_round(round);
		verify(round, "after the writers");
		if (round == ROUNDS - 1 || check_failures != before) {
			CHECK(fs_remount(&env) == 0);
			verify(round, "after a remount");
		}
		if (check_failures != before) {
			fprintf(stderr,
				"seed %" PRIu64 " (CMKFS_TEST_SEED=%" PRIu64
				")\n",
				seed, seed);
			break;
		}
	}
	return check_exit();
}
