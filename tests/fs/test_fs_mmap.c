/* SPDX-License-Identifier: MIT */
/* Shared writable mappings and several handles on one file:
 * - a file of 3 units + 100 bytes, written through a MAP_SHARED mapping,
 *   msync'ed and unmapped, reads back the same through a new descriptor,
 *   after a remount, and through a read-only mapping;
 * - two descriptors of one file see each other's writes at once;
 * - two processes (fork) see each other's writes, through descriptors and
 *   through a shared mapping.
 *
 * usage: CMKFS=BINARY test_fs_mmap CIPHERDIR MOUNTPOINT CONF
 * env: CMKFS_TEST_SEED reproduces a run. */
#include <sys/mman.h>

#include "fs_util.h"

#include "../check.h"

#define MAP_LEN (3 * FS_UNIT + 100)

static struct fs_env env;
static uint64_t rng;

static void mnt_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", env.mnt, name);
}

/* The file reads as want (len bytes) through a new descriptor. */
static int same_as(const char *name, const uint8_t *want, size_t len,
		   const char *when)
{
	uint8_t *got = malloc(len + 1);
	char path[4096];
	ssize_t n;
	int ok;

	mnt_path(path, sizeof(path), name);
	n = fs_read_file(path, got, len + 1);
	ok = n == (ssize_t)len && memcmp(got, want, len) == 0;
	check_count++;
	if (!ok) {
		check_failures++;
		if (n < 0)
			fprintf(stderr, "%s: %s: read: %s\n", when, name,
				strerror((int)-n));
		else
			fprintf(stderr,
				"%s: %s: %zd bytes (want %zu), first "
				"difference at byte %zu\n",
				when, name, n, len,
				fs_first_diff(got, want,
					      (size_t)n < len ? (size_t)n
							      : len));
	}
	free(got);
	return ok;
}

static void test_mmap_write(void)
{
	uint8_t *want = malloc(MAP_LEN), *map;
	char path[4096];
	int fd;

	mnt_path(path, sizeof(path), "mapped");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd < 0) {
		free(want);
		return;
	}
	fs_fill(&rng, want, MAP_LEN);
	CHECK(fs_write_all(fd, want, MAP_LEN) == 0);
	map = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	if (map == MAP_FAILED) {
		fprintf(stderr, "mmap MAP_SHARED: %s\n", strerror(errno));
		close(fd);
		free(want);
		return;
	}
	CHECK(memcmp(map, want, MAP_LEN) == 0);
	/* A new pattern over most of it: the unit edges, the tail. */
	fs_fill(&rng, want + 100, MAP_LEN - 100);
	memcpy(map + 100, want + 100, MAP_LEN - 100);
	CHECK(msync(map, MAP_LEN, MS_SYNC) == 0);
	CHECK(munmap(map, MAP_LEN) == 0);
	CHECK(close(fd) == 0);
	same_as("mapped", want, MAP_LEN, "after msync");

	/* Only a few bytes, and no msync: munmap and close must write them. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	map = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	if (map != MAP_FAILED) {
		static const size_t at[] = { 0,	   4095,  4096,	 8191,
					     8192, 12287, 12288, MAP_LEN - 1 };

		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
			map[at[i]] = want[at[i]] =
				(uint8_t)(want[at[i]] ^ 0x5a);
		CHECK(munmap(map, MAP_LEN) == 0);
	}
	CHECK(close(fd) == 0);
	same_as("mapped", want, MAP_LEN, "after munmap without msync");

	CHECK(fs_remount(&env) == 0);
	same_as("mapped", want, MAP_LEN, "after the remount");
	CHECK(fs_check_backing(&env, "mapped", MAP_LEN) == 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	map = mmap(NULL, MAP_LEN, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	if (map != MAP_FAILED) {
		if (memcmp(map, want, MAP_LEN) != 0) {
			fprintf(stderr,
				"read-only mapping differs from byte "
				"%zu\n",
				fs_first_diff(map, want, MAP_LEN));
			CHECK(!"read-only mapping");
		}
		CHECK(munmap(map, MAP_LEN) == 0);
	}
	close(fd);
	free(want);
}

/* Writes through one descriptor, reads through the other, both ways, at
 * offsets around the unit edges and past the end. */
static void test_two_handles(void)
{
	static const int64_t writes[][2] = {
		{ 0, 10 },   { 4090, 12 }, { 100, 5000 },  { 9990, 20 },
		{ 8191, 2 }, { 15000, 3 }, { 4096, 4096 }, { 14990, 100 },
	};
	uint8_t want[20000] = { 0 }, got[20000], piece[8192];
	size_t size = 10000;
	char path[4096];
	int fd1, fd2;

	fs_fill(&rng, want, size);
	mnt_path(path, sizeof(path), "two");
	fd1 = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd1 >= 0 && fs_write_all(fd1, want, size) == 0);
	fd2 = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd2 >= 0);
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		int wfd = i % 2 ? fd2 : fd1, rfd = i % 2 ? fd1 : fd2;
		size_t off = (size_t)writes[i][0], len = (size_t)writes[i][1];
		struct stat st;
		ssize_t n;

		fs_fill(&rng, piece, len);
		CHECK(fs_pwrite_all(wfd, piece, len, (off_t)off) == 0);
		memcpy(want + off, piece, len);
		if (off + len > size)
			size = off + len;
		CHECK(fstat(rfd, &st) == 0 && st.st_size == (off_t)size);
		n = fs_pread_full(rfd, got, sizeof(got), 0);
		if (n != (ssize_t)size || memcmp(got, want, size) != 0) {
			fprintf(stderr,
				"write %zu (%zu bytes at %zu): the other "
				"descriptor reads %zd bytes (want %zu)%s\n",
				i, len, off, n, size,
				n == (ssize_t)size ? ", other content" : "");
			CHECK(!"two descriptors");
		}
		same_as("two", want, size, "two descriptors");
	}
	close(fd1);
	close(fd2);
}

/* Parent and child take turns: one writes a piece through its own
 * descriptor (the child opens its own) or its mapping, signals, the other
 * checks the piece through its descriptor, and in the mapping too. */
static void test_two_processes(void)
{
	enum { SIZE = 5 * FS_UNIT + 7, TURNS = 8 };
	uint8_t *want = malloc(SIZE), *plan = malloc(SIZE * TURNS);
	int to_child[2], to_parent[2], fd, status;
	char path[4096];
	uint8_t *map;
	pid_t pid;

	mnt_path(path, sizeof(path), "procs");
	fs_fill(&rng, want, SIZE);
	fs_fill(&rng, plan, (size_t)SIZE * TURNS);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && fs_write_all(fd, want, SIZE) == 0);
	CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		/* The child: its own descriptor and its own mapping. */
		int cfd = open(path, O_RDWR | O_CLOEXEC), bad = 0;
		uint8_t *cmap = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
				     MAP_SHARED, cfd, 0);
		uint8_t got[SIZE];
		char c = 0;

		close(fd);
		if (cfd < 0 || cmap == MAP_FAILED)
			_exit(3);
		for (int t = 0; t < TURNS; t++) {
			size_t off = (size_t)(t * 2531 % (SIZE - 900));
			const uint8_t *p = plan + (size_t)t * SIZE;

			if (t % 2 == 0) { /* the parent writes */
				if (read(to_child[0], &c, 1) != 1)
					_exit(4);
				memcpy(want + off, p, 900);
				if (fs_pread_full(cfd, got, SIZE, 0) != SIZE ||
				    memcmp(got, want, SIZE) != 0 ||
				    memcmp(cmap, want, SIZE) != 0) {
					fprintf(stderr,
						"child: turn %d: the "
						"parent's write is not "
						"seen\n",
						t);
					bad = 1;
				}
			} else {
				memcpy(want + off, p, 900);
				if (t % 4 == 1) {
					if (fs_pwrite_all(cfd, p, 900,
							  (off_t)off) != 0)
						bad = 1;
				} else {
					memcpy(cmap + off, p, 900);
					if (msync(cmap, SIZE, MS_SYNC) != 0)
						bad = 1;
				}
			}
			if (write(to_parent[1], "x", 1) != 1)
				_exit(4);
		}
		munmap(cmap, SIZE);
		if (close(cfd) != 0)
			bad = 1;
		_exit(bad);
	}
	CHECK(pid > 0);
	if (pid < 0)
		return;
	map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	for (int t = 0; t < TURNS && map != MAP_FAILED; t++) {
		size_t off = (size_t)(t * 2531 % (SIZE - 900));
		const uint8_t *p = plan + (size_t)t * SIZE;
		uint8_t got[SIZE];
		char c;

		memcpy(want + off, p, 900);
		if (t % 2 == 0) {
			if (t % 4 == 0) {
				CHECK(fs_pwrite_all(fd, p, 900, (off_t)off) ==
				      0);
			} else {
				memcpy(map + off, p, 900);
				CHECK(msync(map, SIZE, MS_SYNC) == 0);
			}
			CHECK(write(to_child[1], "x", 1) == 1);
			CHECK(read(to_parent[0], &c, 1) == 1);
		} else {
			CHECK(read(to_parent[0], &c, 1) == 1);
			if (fs_pread_full(fd, got, SIZE, 0) != SIZE ||
			    memcmp(got, want, SIZE) != 0 ||
			    memcmp(map, want, SIZE) != 0) {
				fprintf(stderr,
					"parent: turn %d: the child's "
					"write is not seen\n",
					t);
				CHECK(!"the child's write");
			}
		}
	}
	close(to_child[1]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (map != MAP_FAILED)
		munmap(map, SIZE);
	CHECK(close(fd) == 0);
	same_as("procs", want, SIZE, "after both processes");
	CHECK(fs_remount(&env) == 0);
	same_as("procs", want, SIZE, "two processes, after the remount");
	CHECK(fs_check_backing(&env, "procs", SIZE) == 0);
	free(want);
	free(plan);
}

int main(int argc, char **argv)
{
	uint64_t seed;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fs_env_init(&env, argc, argv, "") != 0)
		return 2;
	seed = fs_seed("test_fs_mmap");
	rng = seed;
	if (!fs_is_mounted(env.mnt)) {
		fprintf(stderr, "%s is not mounted\n", env.mnt);
		return 1;
	}
	test_mmap_write();
	test_two_handles();
	test_two_processes();
	if (check_failures)
		fprintf(stderr,
			"seed %" PRIu64 " (CMKFS_TEST_SEED=%" PRIu64 ")\n",
			seed, seed);
	return check_exit();
}
