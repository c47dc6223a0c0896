/* SPDX-License-Identifier: MIT */
/* What the fuzz targets share. Each target defines LLVMFuzzerTestOneInput
 * (and may define LLVMFuzzerInitialize); built with -fsanitize=fuzzer it is
 * a libFuzzer program, built with replay.c it feeds the files of its
 * corpus through the same function (tests/fuzz/CMakeLists.txt). A target
 * must be deterministic, fast, and free everything it allocates. */
#ifndef CMKFS_TESTS_FUZZ_H
#define CMKFS_TESTS_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant the code under test broke: abort, so that libFuzzer keeps
 * the input (and the replay fails). */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* cmk_crypto_init() or abort, naming why: a target cannot run without it. */
static inline void fuzz_crypto_init(void)
{
	struct cmk_err err;

	if (cmk_crypto_init(&err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
}

/* fuzz_names' fixed test key, volume id and directory id (also used by
 * make_corpus.c for its seeds). */
/* clang-format off */
#define FUZZ_NAMES_KEY { 0x42, 0x17 }
#define FUZZ_NAMES_VOLUME_ID { 0x99 }
#define FUZZ_NAMES_DIRID { 'f', 'u', 'z', 'z' }
/* clang-format on */

/* A private directory for the target's files (mkdtemp under $TMPDIR or
 * /tmp), removed with everything in it at exit. NULL on failure. */
const char *fuzz_tmpdir(void);
/* Writes len bytes to the file name in fuzz_tmpdir() (mode 0600, replaced
 * if there) and its path into out. 0 or -errno. */
int fuzz_write_file(const char *name, const void *data, size_t len, char *out,
		    size_t out_size);

#endif
