/* SPDX-License-Identifier: MIT */
/* A seeded random model test: writes, reads, appends and truncates on a few
 * files through the mount and on the same files in a plain reference
 * directory, with offsets and lengths that cluster around the 4096-byte unit
 * edges, the short-tail sizes and the end of the file. After every step the
 * touched file must read the same (size and every byte) through a new
 * descriptor; every 1000 steps the volume is unmounted and mounted again and
 * every file is checked, with its backing file's size.
 *
 * usage: CMKFS=BINARY test_fs_model CIPHERDIR MOUNTPOINT CONF REFDIR
 * env: CMKFS_TEST_SEED reproduces a run, CMKFS_MODEL_OPS sets the number of
 * steps (default 10000). */
#include "fs_util.h"

#include "../check.h"

#define NFILES 4
#define MAX_SIZE (64 * 1024 + 4096 + 17) /* no write or truncate beyond */
#define BUF_SIZE (MAX_SIZE + 8192)
#define REMOUNT_EVERY 1000
#define HISTORY 16

static struct fs_env env;
static const char *refdir;
static uint64_t seed;
static uint64_t rng;
static int mfd[NFILES] = { -1, -1, -1, -1 }; /* through the mount */
static int rfd[NFILES] = { -1, -1, -1, -1 }; /* the reference */
static uint8_t *buf_a, *buf_b, *data;
static char history[HISTORY][160];
static long step;

static void path_of(char *out, size_t size, const char *dir, int i)
{
	snprintf(out, size, "%s/f%d", dir, i);
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	char *slot = history[step % HISTORY];
	int len;
	va_list ap;

	len = snprintf(slot, sizeof(history[0]), "step %ld: ", step);
	va_start(ap, fmt);
	vsnprintf(slot + len, sizeof(history[0]) - (size_t)len, fmt, ap);
	va_end(ap);
}

/* Reports a failure with everything needed to reproduce it, and stops:
 * later steps would only repeat it. */
static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr,
		"FAIL at step %ld (seed %" PRIu64 ", rerun with "
		"CMKFS_TEST_SEED=%" PRIu64 "): ",
		step, seed, seed);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nlast steps:\n");
	for (long s = step - HISTORY + 1; s <= step; s++)
		if (s >= 0 && history[s % HISTORY][0])
			fprintf(stderr, "  %s\n", history[s % HISTORY]);
	check_failures++;
	check_count++;
	for (int i = 0; i < NFILES; i++) {
		if (mfd[i] >= 0)
			close(mfd[i]);
		if (rfd[i] >= 0)
			close(rfd[i]);
	}
	exit(check_exit());
}

static void open_all(void)
{
	char path[4096];

	for (int i = 0; i < NFILES; i++) {
		path_of(path, sizeof(path), env.mnt, i);
		mfd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (mfd[i] < 0)
			die("open %s: %s", path, strerror(errno));
		path_of(path, sizeof(path), refdir, i);
		rfd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (rfd[i] < 0)
			die("open %s: %s", path, strerror(errno));
	}
}

static void close_all(void)
{
	for (int i = 0; i < NFILES; i++) {
		if (close(mfd[i]) != 0)
			die("close of f%d through the mount: %s", i,
			    strerror(errno));
		close(rfd[i]);
		mfd[i] = rfd[i] = -1;
	}
}

static off_t ref_size(int i)
{
	struct stat st;

	if (fstat(rfd[i], &st) != 0)
		die("fstat reference: %s", strerror(errno));
	return st.st_size;
}

/* File i reads the same through the mount (stat and a new descriptor) as
 * in the reference. */
static void verify(int i, const char *when)
{
	char path[4096];
	struct stat st;
	off_t size = ref_size(i);
	ssize_t a, b;

	path_of(path, sizeof(path), env.mnt, i);
	if (stat(path, &st) != 0)
		die("%s: stat f%d: %s", when, i, strerror(errno));
	if (st.st_size != size)
		die("%s: f%d: stat shows %lld bytes, the reference has %lld",
		    when, i, (long long)st.st_size, (long long)size);
	a = fs_read_file(path, buf_a, BUF_SIZE);
	path_of(path, sizeof(path), refdir, i);
	b = fs_read_file(path, buf_b, BUF_SIZE);
	if (a < 0)
		die("%s: read f%d through the mount: %s", when, i,
		    strerror((int)-a));
	if (a != b)
		die("%s: f%d reads %zd bytes through the mount, %zd in the "
		    "reference",
		    when, i, a, b);
	if (memcmp(buf_a, buf_b, (size_t)a) != 0) {
		size_t d = fs_first_diff(buf_a, buf_b, (size_t)a);

		die("%s: f%d (%zd bytes) differs from byte %zu (unit %zu, "
		    "offset %zu in it): 0x%02x, expected 0x%02x",
		    when, i, a, d, d / FS_UNIT, d % FS_UNIT, buf_a[d],
		    buf_b[d]);
	}
	check_count++;
}

static void remount_and_verify(void)
{
	off_t sizes[NFILES];

	for (int i = 0; i < NFILES; i++)
		sizes[i] = ref_size(i);
	close_all();
	if (fs_remount(&env) != 0)
		die("remount failed");
	for (int i = 0; i < NFILES; i++) {
		char rel[16];

		snprintf(rel, sizeof(rel), "f%d", i);
		if (fs_check_backing(&env, rel, sizes[i]) != 0)
			die("f%d: wrong backing file size after the remount",
			    i);
	}
	open_all();
	for (int i = 0; i < NFILES; i++)
		verify(i, "after the remount");
}

static off_t clamp(off_t v)
{
	return v < 0 ? 0 : v > MAX_SIZE ? MAX_SIZE : v;
}

/* The sizes where the last unit changes shape: tiny (1-15), merged short
 * tail (n*4096 + 1..15), a full unit, a unit of 16 or 17 bytes. */
static off_t pick_edge(off_t size)
{
	static const int near[] = { -17, -16, -15, -1, 0, 1, 2, 15, 16, 17, 31 };
	off_t unit = fs_range(&rng, 0, size / FS_UNIT + 2);

	return clamp(unit * FS_UNIT + near[fs_below(&rng, 11)]);
}

static off_t pick_offset(off_t size)
{
	switch (fs_below(&rng, 8)) {
	case 0:
		return fs_range(&rng, 0, size);
	case 1:
		return clamp(size + fs_range(&rng, -20, 20));
	case 2:
	case 3:
		return pick_edge(size);
	case 4:
		return size;
	case 5:
		return fs_range(&rng, 0, 40);
	case 6:
		return fs_range(&rng, 0, MAX_SIZE - 1);
	default:
		return clamp(fs_range(&rng, 0, size / FS_UNIT + 1) * FS_UNIT +
			     fs_range(&rng, -2, 2));
	}
}

static size_t pick_len(off_t off)
{
	int64_t len;

	switch (fs_below(&rng, 8)) {
	case 0:
		len = fs_range(&rng, 1, 16);
		break;
	case 1:
		len = FS_UNIT + fs_range(&rng, -17, 17);
		break;
	case 2:
		len = fs_range(&rng, 1, 20000);
		break;
	case 3:
		len = fs_range(&rng, 1, 4);
		break;
	case 4: /* up to a unit edge, or just across it */
		len = FS_UNIT - off % FS_UNIT + fs_range(&rng, -1, 1);
		break;
	case 5:
		len = 2 * FS_UNIT + fs_range(&rng, -17, 17);
		break;
	default:
		len = fs_range(&rng, 1, 300);
		break;
	}
	if (len < 1)
		len = 1;
	if (off + len > MAX_SIZE)
		len = MAX_SIZE - off;
	return (size_t)len;
}

static off_t pick_size(off_t size)
{
	static const int tails[] = { 0, 1, 2, 15, 16, 17, 31, 32, 33 };

	switch (fs_below(&rng, 6)) {
	case 0:
		return tails[fs_below(&rng, 9)];
	case 1:
	case 2:
		return pick_edge(size);
	case 3:
		return clamp(size + fs_range(&rng, -20, 20));
	case 4:
		return clamp(size - fs_range(&rng, 0, 5000));
	default:
		return fs_range(&rng, 0, MAX_SIZE);
	}
}

/* One write to both copies: through the persistent descriptors, or through
 * new ones (with O_APPEND, the data goes to the end whatever the offset). */
static void do_write(int i, off_t off, size_t len, int how)
{
	char mpath[4096], rpath[4096];
	int flags = how == 2   ? O_WRONLY | O_APPEND
		    : how == 3 ? O_WRONLY | O_TRUNC
			       : O_WRONLY;
	int mf = mfd[i], rf = rfd[i], ret;

	fs_fill(&rng, data, len);
	if (how) {
		path_of(mpath, sizeof(mpath), env.mnt, i);
		path_of(rpath, sizeof(rpath), refdir, i);
		mf = open(mpath, flags | O_CLOEXEC);
		if (mf < 0)
			die("open f%d (flags 0%o) through the mount: %s", i,
			    flags, strerror(errno));
		rf = open(rpath, flags | O_CLOEXEC);
		if (rf < 0)
			die("open reference: %s", strerror(errno));
	}
	if (how == 2)
		ret = fs_write_all(mf, data, len);
	else
		ret = fs_pwrite_all(mf, data, len, off);
	if (ret)
		die("write of %zu bytes at %lld to f%d through the mount: %s",
		    len, (long long)off, i, strerror(-ret));
	if ((how == 2 ? fs_write_all(rf, data, len)
		      : fs_pwrite_all(rf, data, len, off)) != 0)
		die("write to the reference: %s", strerror(errno));
	if (how) {
		if (close(mf) != 0)
			die("close of f%d through the mount: %s", i,
			    strerror(errno));
		close(rf);
	}
}

static void do_truncate(int i, off_t size, int by_path)
{
	char mpath[4096], rpath[4096];

	path_of(mpath, sizeof(mpath), env.mnt, i);
	path_of(rpath, sizeof(rpath), refdir, i);
	if ((by_path ? truncate(mpath, size) : ftruncate(mfd[i], size)) != 0)
		die("%struncate of f%d to %lld through the mount: %s",
		    by_path ? "" : "f", i, (long long)size, strerror(errno));
	if ((by_path ? truncate(rpath, size) : ftruncate(rfd[i], size)) != 0)
		die("truncate of the reference: %s", strerror(errno));
}

static void do_read(int i, off_t off, size_t len)
{
	ssize_t a = fs_pread_full(mfd[i], buf_a, len, off);
	ssize_t b = fs_pread_full(rfd[i], buf_b, len, off);

	if (a < 0)
		die("read of %zu bytes at %lld of f%d through the mount: %s",
		    len, (long long)off, i, strerror((int)-a));
	if (a != b)
		die("read of %zu bytes at %lld of f%d: %zd bytes through the "
		    "mount, %zd in the reference",
		    len, (long long)off, i, a, b);
	if (memcmp(buf_a, buf_b, (size_t)a) != 0)
		die("read of %zu bytes at %lld of f%d differs from byte %zu",
		    len, (long long)off, i,
		    fs_first_diff(buf_a, buf_b, (size_t)a));
	check_count++;
}

static void one_step(void)
{
	int i = (int)fs_below(&rng, NFILES);
	off_t size = ref_size(i), off;
	unsigned op = (unsigned)fs_below(&rng, 100);
	size_t len;

	if (op < 35) {
		off = pick_offset(size);
		len = pick_len(off);
		record("pwrite f%d off %lld len %zu (size %lld)", i,
		       (long long)off, len, (long long)size);
		do_write(i, off, len, 0);
	} else if (op < 45) {
		off = pick_offset(size);
		len = pick_len(off);
		record("open, pwrite f%d off %lld len %zu, close (size %lld)",
		       i, (long long)off, len, (long long)size);
		do_write(i, off, len, 1);
	} else if (op < 58) {
		off = pick_offset(size);
		len = (size_t)fs_range(&rng, 1, 20000);
		record("pread f%d off %lld len %zu (size %lld)", i,
		       (long long)off, len, (long long)size);
		do_read(i, off, len);
		return;
	} else if (op < 68) {
		if (size >= MAX_SIZE - 1) {
			record("truncate f%d to 0 (size %lld)", i,
			       (long long)size);
			do_truncate(i, 0, 1);
		} else {
			len = pick_len(size);
			record("O_APPEND write f%d len %zu (size %lld)", i, len,
			       (long long)size);
			do_write(i, size, len, 2);
		}
	} else if (op < 88) {
		off = pick_size(size);
		record("%struncate f%d to %lld (size %lld)", op < 78 ? "f" : "",
		       i, (long long)off, (long long)size);
		do_truncate(i, off, op >= 78);
	} else if (op < 91) {
		record("fsync/fdatasync f%d (size %lld)", i, (long long)size);
		if ((op % 2 ? fsync(mfd[i]) : fdatasync(mfd[i])) != 0)
			die("fsync of f%d: %s", i, strerror(errno));
	} else if (op < 94) {
		len = pick_len(0);
		record("O_TRUNC open, write f%d len %zu (size %lld)", i, len,
		       (long long)size);
		do_write(i, 0, len, 3);
	} else {
		off = fs_range(&rng, 0, 12) * FS_UNIT;
		len = (size_t)fs_range(&rng, 1, 3) * FS_UNIT;
		if (off + (off_t)len > MAX_SIZE)
			off = 0;
		record("whole-unit pwrite f%d off %lld len %zu (size %lld)", i,
		       (long long)off, len, (long long)size);
		do_write(i, off, len, 0);
	}
	verify(i, "after the step");
}

int main(int argc, char **argv)
{
	const char *ops_env = getenv("CMKFS_MODEL_OPS");
	/* NOLINTNEXTLINE(cert-err34-c): a test knob */
	long ops = ops_env ? atol(ops_env) : 10000;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fs_env_init(&env, argc, argv, " REFDIR") != 0 || argc != 5)
		return 2;
	refdir = argv[4];
	seed = fs_seed("test_fs_model");
	rng = seed;
	buf_a = malloc(BUF_SIZE);
	buf_b = malloc(BUF_SIZE);
	data = malloc(BUF_SIZE);
	if (!buf_a || !buf_b || !data)
		return 1;
	if (!fs_is_mounted(env.mnt)) {
		fprintf(stderr, "%s is not mounted\n", env.mnt);
		return 1;
	}
	open_all();
	for (step = 0; step < ops; step++) {
		one_step();
		if ((step + 1) % REMOUNT_EVERY == 0 || step + 1 == ops) {
			record("unmount, mount, verify all files");
			remount_and_verify();
		}
	}
	close_all();
	printf("test_fs_model: %ld steps, %d remounts, seed %" PRIu64 "\n", ops,
	       (int)((ops + REMOUNT_EVERY - 1) / REMOUNT_EVERY), seed);
	free(buf_a);
	free(buf_b);
	free(data);
	return check_exit();
}
