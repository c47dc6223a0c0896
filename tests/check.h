/* SPDX-License-Identifier: MIT */
/* A minimal test harness: CHECK() records a failure with its location and
 * goes on; a test program returns check_exit() from main. */
#ifndef CMKFS_TESTS_CHECK_H
#define CMKFS_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

/* For clang-tidy's analyzer only: a failed check ends the path, so that it
 * looks at what follows a check as if the check held (a test goes on after a
 * failure, and what it then does to its own data is no finding). */
#ifdef __clang_analyzer__
#define CHECK_FAILED_() abort()
#else
#define CHECK_FAILED_() ((void)0)
#endif

#define CHECK(cond)                                                            \
	do {                                                                   \
		check_count++;                                                 \
		if (!(cond)) {                                                 \
			check_failures++;                                      \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			CHECK_FAILED_();                                       \
		}                                                              \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                        \
	do {                                                                      \
		long long check_a_ = (long long)(a);                              \
		long long check_b_ = (long long)(b);                              \
		check_count++;                                                    \
		if (check_a_ != check_b_) {                                       \
			check_failures++;                                         \
			fprintf(stderr,                                           \
				"%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
				__FILE__, __LINE__, #a, #b, check_a_,             \
				check_b_);                                        \
			CHECK_FAILED_();                                          \
		}                                                                 \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                          \
	do {                                                                     \
		const char *check_h_ = (hay);                                    \
		check_count++;                                                   \
		if (!check_h_ || !strstr(check_h_, (needle))) {                  \
			check_failures++;                                        \
			fprintf(stderr,                                          \
				"%s:%d: CHECK failed: \"%s\" contains \"%s\"\n", \
				__FILE__, __LINE__,                              \
				check_h_ ? check_h_ : "(null)", (needle));       \
			CHECK_FAILED_();                                         \
		}                                                                \
	} while (0)

static inline int check_exit(void)
{
	if (check_count == 0) {
		fprintf(stderr, "no checks ran\n");
		return 1;
	}
	fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
