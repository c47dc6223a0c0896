/* SPDX-License-Identifier: MIT */
/* The data path against an in-memory model: every plaintext length from 0
 * to 3*4096+17 written in random pieces and read back, and a seeded random
 * sequence of writes, truncates and reads. Prints its seed on failure;
 * CMKFS_TEST_SEED=N reruns one. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "crypto/filedata.h"
#include "crypto/format.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the printed seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static char dir[] = "/tmp/cmkfs-filedata-XXXXXX";
static struct cmk_xts *xts;

static int new_backing(const char *name)
{
	char path[256];
	uint8_t hdr[CMK_HEADER_SIZE] = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		perror(path);
		exit(1);
	}
	return fd;
}

/* Reads the whole file back through the data path, in one piece and in
 * random pieces, and compares with the model. */
static int verify(int fd, const uint8_t *model, uint64_t size)
{
	uint8_t *got = malloc(size + 100);
	uint64_t plain_size = 0;
	int bad = 0;

	if (cmk_data_size(fd, &plain_size) != 0 || plain_size != size)
		bad = 1;
	if (!bad && cmk_data_read(fd, xts, got, size + 100, 0) != (ssize_t)size)
		bad = 1;
	if (!bad && memcmp(got, model, size) != 0)
		bad = 1;
	for (int i = 0; !bad && i < 4 && size; i++) {
		uint64_t off = rnd_below(size);
		size_t len = (size_t)rnd_below(size - off + 20) + 1;
		ssize_t n = cmk_data_read(fd, xts, got, len, off);
		size_t want = off + len > size ? (size_t)(size - off) : len;

		if (n != (ssize_t)want || memcmp(got, model + off, want) != 0)
			bad = 1;
	}
	if (!bad && cmk_data_read(fd, xts, got, 10, size + 5) != 0)
		bad = 1;
	free(got);
	return bad;
}

static void every_length(uint64_t seed)
{
	const uint64_t max = 3 * 4096 + 17;
	uint8_t *model = malloc(max);
	int fd = new_backing("lengths");

	rng_state = seed;
	for (uint64_t size = 0; size <= max; size++) {
		uint64_t done = 0;
		struct stat st;

		if (ftruncate(fd, CMK_HEADER_SIZE) != 0)
			exit(1);
		for (uint64_t i = 0; i < size; i++)
			model[i] = (uint8_t)rnd();
		/* Random pieces, written in ascending order with the
		 * occasional back-step that rewrites earlier bytes. */
		while (done < size) {
			uint64_t len = rnd_below(size - done < 5000
							 ? size - done
							 : 5000) +
				       1;
			uint64_t off = done;

			if (done && rnd_below(4) == 0)
				off = rnd_below(done);
			if (off + len > size)
				len = size - off;
			if (cmk_data_write(fd, xts, model + off, len, off) !=
			    (ssize_t)len) {
				CHECK(!"write failed");
				break;
			}
			if (off + len > done)
				done = off + len;
		}
		fstat(fd, &st);
		CHECK_EQ_INT(st.st_size, 4096 + size);
		if (verify(fd, model, size)) {
			fprintf(stderr, "length %llu failed (seed %llu)\n",
				(unsigned long long)size,
				(unsigned long long)seed);
			CHECK(!"every_length");
			break;
		}
	}
	close(fd);
	free(model);
}

static void random_ops(uint64_t seed, int ops)
{
	const uint64_t max = 5 * 4096 + 40;
	uint8_t *model = calloc(1, max + 8192);
	uint8_t *piece = malloc(max);
	uint64_t size = 0;
	int fd = new_backing("random");

	rng_state = seed;
	for (int op = 0; op < ops; op++) {
		int kind = (int)rnd_below(10);

		if (kind < 6) {
			/* Offsets cluster near unit edges and the end. */
			uint64_t off = rnd_below(3) == 0
					       ? rnd_below(5) * 4096 +
							 rnd_below(40) - 20
					       : rnd_below(size + 100);
			uint64_t len = rnd_below(3) == 0 ? rnd_below(20) + 1
							 : rnd_below(9000) + 1;

			if ((int64_t)off < 0)
				off = 0;
			if (off + len > max)
				continue;
			for (uint64_t i = 0; i < len; i++)
				piece[i] = (uint8_t)rnd();
			if (cmk_data_write(fd, xts, piece, len, off) !=
			    (ssize_t)len) {
				CHECK(!"random write");
				break;
			}
			if (off > size)
				memset(model + size, 0, off - size);
			memcpy(model + off, piece, len);
			if (off + len > size)
				size = off + len;
		} else if (kind < 9) {
			uint64_t to = rnd_below(2) ? rnd_below(size + 1)
						   : rnd_below(max);

			int tret = cmk_data_truncate(fd, xts, to);

			if (tret != 0) {
				fprintf(stderr, "truncate %llu -> %llu: %d\n",
					(unsigned long long)size,
					(unsigned long long)to, tret);
				CHECK(!"random truncate");
				break;
			}
			if (to > size)
				memset(model + size, 0, to - size);
			size = to;
		}
		if (verify(fd, model, size)) {
			fprintf(stderr,
				"random ops: op %d failed (seed %llu, size "
				"%llu)\n",
				op, (unsigned long long)seed,
				(unsigned long long)size);
			CHECK(!"random_ops");
			break;
		}
	}
	close(fd);
	free(model);
	free(piece);
}

/* Every size-to-size change among the sizes where the layout changes shape,
 * by truncate and by a write at the new end. */
static void size_matrix(void)
{
	static const uint64_t sizes[] = { 0,	1,    15,   16,	  17,
					  4095, 4096, 4097, 4111, 4112,
					  8192, 8193, 8205, 8208, 12288 };
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	uint8_t *model = calloc(1, 16384), byte;
	int fd = new_backing("matrix");

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			for (int how = 0; how < 2; how++) {
				uint64_t from = sizes[i], to = sizes[j];

				CHECK_EQ_INT(cmk_data_truncate(fd, xts, 0), 0);
				for (uint64_t b = 0; b < from; b++)
					model[b] = (uint8_t)(b * 7 + 1);
				if (cmk_data_write(fd, xts, model, from, 0) !=
				    (ssize_t)from)
					CHECK(!"matrix write");
				if (to > from)
					memset(model + from, 0, to - from);
				if (how == 0 || to <= from) {
					CHECK_EQ_INT(cmk_data_truncate(fd, xts,
								       to),
						     0);
				} else {
					byte = 0x5a;
					model[to - 1] = byte;
					CHECK_EQ_INT(cmk_data_write(fd, xts,
								    &byte, 1,
								    to - 1),
						     1);
				}
				if (verify(fd, model, to)) {
					fprintf(stderr,
						"matrix %llu -> %llu (%s) "
						"failed\n",
						(unsigned long long)from,
						(unsigned long long)to,
						how ? "write" : "truncate");
					CHECK(!"size_matrix");
				}
			}
		}
	}
	close(fd);
	free(model);
}

static void holes_stay_sparse(void)
{
	uint8_t buf[4096];
	struct stat st;
	int fd = new_backing("sparse");

	CHECK_EQ_INT(cmk_data_truncate(fd, xts, 64 << 20), 0);
	CHECK_EQ_INT(cmk_data_write(fd, xts, "x", 1, 32 << 20), 1);
	CHECK_EQ_INT(cmk_data_read(fd, xts, buf, sizeof(buf), 1 << 20), 4096);
	CHECK(buf[0] == 0 && !memcmp(buf, buf + 1, sizeof(buf) - 1));
	fstat(fd, &st);
	CHECK(st.st_blocks * 512 < 1 << 20);
	close(fd);
}

/* Unit-aligned writes of whole units never read: they work on a backing
 * descriptor opened write-only, where any read-modify-write would fail. */
static void aligned_writes_do_not_read(void)
{
	char path[256];
	uint8_t *buf = malloc(1 << 20);
	int fd;

	close(new_backing("aligned"));
	snprintf(path, sizeof(path), "%s/aligned", dir);
	fd = open(path, O_WRONLY);
	memset(buf, 0x33, 1 << 20);
	CHECK_EQ_INT(cmk_data_write(fd, xts, buf, 1 << 20, 0), 1 << 20);
	CHECK_EQ_INT(cmk_data_write(fd, xts, buf, 1 << 20, 1 << 20), 1 << 20);
	CHECK_EQ_INT(cmk_data_write(fd, xts, buf, 8192, 3 * 4096), 8192);
	/* A partial unit does need to read: the descriptor refuses. */
	CHECK_EQ_INT(cmk_data_write(fd, xts, buf, 100, 4096 + 7), -EBADF);
	close(fd);
	free(buf);
}

static void bad_backing(void)
{
	uint64_t size;
	uint8_t buf[16];
	int fd = new_backing("short");

	CHECK_EQ_INT(ftruncate(fd, 100), 0);
	CHECK_EQ_INT(cmk_data_size(fd, &size), -EBADMSG);
	CHECK_EQ_INT(cmk_data_read(fd, xts, buf, sizeof(buf), 0), -EBADMSG);
	CHECK_EQ_INT(cmk_data_write(fd, xts, buf, sizeof(buf), 0), -EBADMSG);
	close(fd);
}

int main(void)
{
	uint8_t dek[32], file_id[16];
	const char *env = getenv("CMKFS_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	char cmd[300];

	if (cmk_crypto_init(NULL) < 0 || !mkdtemp(dir))
		return 1;
	fprintf(stderr, "seed %llu\n", (unsigned long long)seed);
	cmk_random(dek, sizeof(dek));
	cmk_random(file_id, sizeof(file_id));
	if (cmk_xts_for_file(dek, file_id, &xts) != 0)
		return 1;
	every_length(seed);
	random_ops(seed + 1, 3000);
	size_matrix();
	holes_stay_sparse();
	aligned_writes_do_not_read();
	bad_backing();
	cmk_xts_free(xts);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	/* NOLINTNEXTLINE(cert-env33-c): the test's own command */
	if (system(cmd) != 0)
		CHECK(!"cleanup");
	return check_exit();
}
