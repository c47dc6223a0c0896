/* SPDX-License-Identifier: MIT */
/* Helpers shared by the C filesystem tests: the volume's paths, mounting
 * and unmounting with the real cmkfs binary, whole-file I/O, and a seeded
 * random generator. */
#ifndef CMKFS_TESTS_FS_UTIL_H
#define CMKFS_TESTS_FS_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mntent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FS_UNIT 4096
#define FS_HEADER 4096
#define FS_FUSE_SUPER_MAGIC 0x65735546

/* What every program gets: argv CIPHERDIR MOUNTPOINT CONF, and the binary
 * in the environment (CMKFS). */
struct fs_env {
	const char *cmkfs;
	const char *cipher;
	const char *mnt;
	const char *conf;
};

static inline int fs_env_init(struct fs_env *e, int argc, char **argv,
			      const char *usage)
{
	e->cmkfs = getenv("CMKFS");
	if (argc < 4 || !e->cmkfs) {
		fprintf(stderr,
			"usage: CMKFS=BINARY %s CIPHERDIR MOUNTPOINT CONF%s\n",
			argv[0], usage);
		return -1;
	}
	e->cipher = argv[1];
	e->mnt = argv[2];
	e->conf = argv[3];
	return 0;
}

/* splitmix64: small, good enough, identical everywhere. */
static inline uint64_t fs_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t fs_below(uint64_t *state, uint64_t n)
{
	return n ? fs_rand(state) % n : 0;
}

/* A random integer in [lo, hi]. */
static inline int64_t fs_range(uint64_t *state, int64_t lo, int64_t hi)
{
	return lo + (int64_t)fs_below(state, (uint64_t)(hi - lo + 1));
}

static inline void fs_fill(uint64_t *state, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = fs_rand(state);

		for (size_t j = 0; j < 8 && i + j < len; j++)
			buf[i + j] = (uint8_t)(r >> (8 * j));
	}
}

/* The seed: CMKFS_TEST_SEED, or a fresh one; always printed. */
static inline uint64_t fs_seed(const char *prog)
{
	const char *s = getenv("CMKFS_TEST_SEED");
	uint64_t seed;

	if (s && *s) {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^
		       (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	printf("%s: seed %" PRIu64 " (CMKFS_TEST_SEED=%" PRIu64
	       " reproduces this run)\n",
	       prog, seed, seed);
	fflush(stdout);
	return seed;
}

static inline int fs_is_mounted(const char *dir)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *ent;
	int found = 0;

	if (!f)
		return 0;
	while ((ent = getmntent(f)) != NULL)
		if (strcmp(ent->mnt_dir, dir) == 0)
			found = 1;
	endmntent(f);
	return found;
}

/* Appends s to the command in buf, in single quotes. */
static inline void fs_quote(char *buf, size_t size, const char *s)
{
	size_t len = strlen(buf);

	if (len + 1 < size)
		buf[len++] = '\'';
	for (; *s && len + 5 < size; s++) {
		if (*s == '\'') {
			memcpy(buf + len, "'\\''", 4);
			len += 4;
		} else {
			buf[len++] = *s;
		}
	}
	if (len + 2 < size) {
		buf[len++] = '\'';
		buf[len++] = ' ';
	}
	buf[len] = '\0';
}

static inline int fs_system(const char *cmd)
{
	int status;

	fflush(stdout);
	fflush(stderr);
	/* NOLINTNEXTLINE(cert-env33-c): the test's own command */
	status = system(cmd);
	if (status == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static inline void fs_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* fusermount3 -u, retried while the mount is busy. */
static inline int fs_unmount(const struct fs_env *e)
{
	char cmd[4096] = "fusermount3 -u ";

	fs_quote(cmd, sizeof(cmd), e->mnt);
	strncat(cmd, " 2>/dev/null", sizeof(cmd) - strlen(cmd) - 1);
	for (int i = 0; i < 100; i++) {
		if (!fs_is_mounted(e->mnt))
			return 0;
		if (fs_system(cmd) == 0 && !fs_is_mounted(e->mnt))
			return 0;
		fs_sleep_ms(100);
	}
	fprintf(stderr, "cannot unmount %s\n", e->mnt);
	return -1;
}

/* `cmkfs mount` (with -o CMKFS_MOUNT_OPTIONS when set), which must exit 0
 * with a FUSE file system mounted. */
static inline int fs_mount(const struct fs_env *e)
{
	char cmd[4096] = "";
	const char *opts;
	struct statfs sfs;
	int rc;

	fs_quote(cmd, sizeof(cmd), e->cmkfs);
	strncat(cmd, "mount -c ", sizeof(cmd) - strlen(cmd) - 1);
	fs_quote(cmd, sizeof(cmd), e->conf);
	fs_quote(cmd, sizeof(cmd), e->cipher);
	fs_quote(cmd, sizeof(cmd), e->mnt);
	/* NOLINTNEXTLINE(concurrency-mt-unsafe): one thread mounts */
	opts = getenv("CMKFS_MOUNT_OPTIONS");
	if (opts && *opts) {
		strncat(cmd, "-o ", sizeof(cmd) - strlen(cmd) - 1);
		fs_quote(cmd, sizeof(cmd), opts);
	}
	rc = fs_system(cmd);
	if (rc != 0) {
		fprintf(stderr, "mount failed (exit %d): %s\n", rc, cmd);
		return -1;
	}
	if (!fs_is_mounted(e->mnt) || statfs(e->mnt, &sfs) != 0 ||
	    sfs.f_type != FS_FUSE_SUPER_MAGIC) {
		fprintf(stderr, "mount exited 0 but %s is not a FUSE mount\n",
			e->mnt);
		return -1;
	}
	return 0;
}

static inline int fs_remount(const struct fs_env *e)
{
	if (fs_unmount(e) != 0)
		return -1;
	return fs_mount(e);
}

static inline int fs_pwrite_all(int fd, const uint8_t *buf, size_t len,
				off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static inline int fs_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* pread until len bytes or the end of the file; the count or -errno. */
static inline ssize_t fs_pread_full(int fd, uint8_t *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
			pread(fd, buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Reads a whole file through a new descriptor (opening a FUSE file drops
 * the kernel's cached pages, so this reads what the file system returns);
 * at most cap bytes, one more to see that the file does not go on. */
static inline ssize_t fs_read_file(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = fs_pread_full(fd, buf, cap, 0);
	close(fd);
	return n;
}

static inline size_t fs_first_diff(const uint8_t *a, const uint8_t *b,
				   size_t len)
{
	size_t i = 0;

	/* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): the analyzer takes a -errno for a length read */
	while (i < len && a[i] == b[i])
		i++;
	return i;
}

/* The backing file of REL has the size of the plaintext plus the header. */
static inline int fs_check_backing(const struct fs_env *e, const char *rel,
				   off_t plain_size)
{
	char path[4096] = "", cmd[8192] = "";
	struct stat st;
	FILE *f;

	/* `cmkfs path` knows where the name lives (encrypted or not). */
	fs_quote(cmd, sizeof(cmd), e->cmkfs);
	strncat(cmd, "path -c ", sizeof(cmd) - strlen(cmd) - 1);
	fs_quote(cmd, sizeof(cmd), e->conf);
	fs_quote(cmd, sizeof(cmd), e->cipher);
	fs_quote(cmd, sizeof(cmd), rel);
	/* NOLINTNEXTLINE(cert-env33-c): the test's own command, quoted */
	f = popen(cmd, "r");
	if (!f || !fgets(path, sizeof(path), f)) {
		fprintf(stderr, "cmkfs path %s failed\n", rel);
		if (f)
			pclose(f);
		return -1;
	}
	pclose(f);
	path[strcspn(path, "\n")] = '\0';
	if (stat(path, &st) != 0) {
		fprintf(stderr, "backing file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (st.st_size != plain_size + FS_HEADER) {
		fprintf(stderr,
			"backing file %s is %lld bytes for %lld bytes "
			"of plaintext\n",
			path, (long long)st.st_size, (long long)plain_size);
		return -1;
	}
	return 0;
}

#endif
