/* SPDX-License-Identifier: MIT */
/* Encrypted names (crypto/names.c) under a fixed test key: the decoding
 * and decryption of backing names, long names and their side files,
 * symlink targets and the markers of long targets, on anything a backing
 * directory may hold; and round trips of the input as a plaintext name or
 * target. The first byte picks the operation, the rest is its input. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "crypto/names.h"

static struct cmk_names *names;
static const uint8_t dirid[CMK_DIRID_LEN] = FUZZ_NAMES_DIRID;

static void free_names(void)
{
	cmk_names_free(names);
	names = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t key[CMK_KEY_LEN] = FUZZ_NAMES_KEY;
	static const uint8_t volume_id[CMK_ID_LEN] = FUZZ_NAMES_VOLUME_ID;

	(void)argc;
	(void)argv;
	fuzz_crypto_init();
	if (cmk_names_new(key, volume_id, &names) != 0)
		abort();
	atexit(free_names);
	return 0;
}

/* A NUL-terminated copy, as readdir() and readlink() give names. */
static char *cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static void backing_name(const char *s, size_t len)
{
	char plain[CMK_NAME_PLAIN_MAX + 1], enc[CMK_NAME_ENC_MAX + 1];
	int n;

	n = cmk_name_decrypt(names, dirid, s, len, plain, sizeof(plain));
	if (n >= 0) {
		/* Only our own encodings open; and each has one form. */
		FUZZ_CHECK(cmk_name_valid(plain, (size_t)n));
		FUZZ_CHECK(cmk_name_encrypt(names, dirid, plain, (size_t)n, enc,
					    sizeof(enc)) == (int)len);
		FUZZ_CHECK(memcmp(enc, s, len) == 0);
	} else {
		FUZZ_CHECK(n == -EBADMSG);
	}
	/* A short buffer is refused, never overrun. */
	n = cmk_name_decrypt(names, dirid, s, len, plain, 1);
	FUZZ_CHECK(n < 0);
	cmk_name_is_special(s);
	if (cmk_name_is_long(s))
		FUZZ_CHECK(strlen(s) == CMK_LONG_LEN);
}

/* A long name and the encoding its side file holds, split at the first
 * newline of the input. */
static void long_name(const char *s, size_t len)
{
	const char *nl = memchr(s, '\n', len);
	char backing[CMK_NAME_BACKING_MAX + 1];
	char plain[CMK_NAME_PLAIN_MAX + 1];
	size_t blen;

	if (!nl)
		return;
	blen = (size_t)(nl - s);
	if (blen > CMK_NAME_BACKING_MAX)
		return;
	memcpy(backing, s, blen);
	backing[blen] = '\0';
	if (cmk_name_is_long(backing) &&
	    cmk_name_long_check(backing, nl + 1, len - blen - 1) == 0) {
		FUZZ_CHECK(len - blen - 1 > CMK_NAME_BACKING_MAX);
		cmk_name_decrypt(names, dirid, nl + 1, len - blen - 1, plain,
				 sizeof(plain));
	}
}

static void symlink_target(const char *s, size_t len)
{
	char *plain = malloc(CMK_SYMLINK_PLAIN_MAX + 1);
	int n, want;

	if (!plain)
		abort();
	want = cmk_symlink_plain_len(len);
	n = cmk_symlink_decrypt(names, s, len, plain,
				CMK_SYMLINK_PLAIN_MAX + 1);
	if (n >= 0) {
		FUZZ_CHECK(n == want);
		FUZZ_CHECK(!memchr(plain, '\0', (size_t)n));
	}
	n = cmk_symlink_decrypt(names, s, len, plain, 2);
	FUZZ_CHECK(n < 0);
	free(plain);
}

/* A marker (the backing symlink's target) and the side file's encoding,
 * split at the first newline. */
static void symlink_marker(const char *s, size_t len)
{
	const char *nl = memchr(s, '\n', len);
	size_t mlen = nl ? (size_t)(nl - s) : len;
	int n;

	n = cmk_symlink_marker_plain_len(s, mlen);
	if (n >= 0)
		FUZZ_CHECK(n > CMK_SYMLINK_INLINE_PLAIN &&
			   n <= CMK_SYMLINK_PLAIN_MAX &&
			   mlen == CMK_SYMLINK_MARKER_LEN);
	if (nl && mlen == CMK_SYMLINK_MARKER_LEN &&
	    cmk_symlink_marker_check(s, nl + 1, len - mlen - 1) == 0)
		FUZZ_CHECK(cmk_symlink_plain_len(len - mlen - 1) == n);
}

static void round_trip_name(const char *s, size_t len)
{
	struct cmk_backing_name b;
	char plain[CMK_NAME_PLAIN_MAX + 1];
	int ret = cmk_name_to_backing(names, dirid, s, len, &b);

	if (ret) {
		FUZZ_CHECK(!cmk_name_valid(s, len));
		return;
	}
	FUZZ_CHECK(cmk_name_decrypt(names, dirid, b.enc, b.enc_len, plain,
				    sizeof(plain)) == (int)len);
	FUZZ_CHECK(memcmp(plain, s, len) == 0);
	FUZZ_CHECK(b.len <= CMK_NAME_BACKING_MAX);
	if (b.is_long) {
		FUZZ_CHECK(cmk_name_is_long(b.name));
		FUZZ_CHECK(cmk_name_long_check(b.name, b.enc, b.enc_len) == 0);
	} else {
		FUZZ_CHECK(!cmk_name_is_special(b.name));
	}
}

static void round_trip_symlink(const char *s, size_t len)
{
	static const uint8_t nonce[CMK_SYMLINK_NONCE_LEN] = { 7 };
	char *enc = malloc(CMK_SYMLINK_ENC_MAX + 1);
	char *plain = malloc(CMK_SYMLINK_PLAIN_MAX + 1);
	char marker[CMK_SYMLINK_MARKER_LEN + 1];
	int n;

	if (!enc || !plain)
		abort();
	n = cmk_symlink_encrypt(names, s, len, nonce, enc,
				CMK_SYMLINK_ENC_MAX + 1);
	if (n < 0) {
		FUZZ_CHECK(len == 0 || len > CMK_SYMLINK_PLAIN_MAX ||
			   memchr(s, '\0', len));
		goto out;
	}
	FUZZ_CHECK(cmk_symlink_plain_len((size_t)n) == (int)len);
	FUZZ_CHECK(cmk_symlink_decrypt(names, enc, (size_t)n, plain,
				       CMK_SYMLINK_PLAIN_MAX + 1) == (int)len);
	FUZZ_CHECK(memcmp(plain, s, len) == 0);
	if (n > CMK_SYMLINK_INLINE_MAX) {
		FUZZ_CHECK(cmk_symlink_marker(enc, (size_t)n, marker) ==
			   CMK_SYMLINK_MARKER_LEN);
		FUZZ_CHECK(cmk_symlink_marker_plain_len(
				   marker, CMK_SYMLINK_MARKER_LEN) == (int)len);
		FUZZ_CHECK(cmk_symlink_marker_check(marker, enc, (size_t)n) ==
			   0);
	}
out:
	free(enc);
	free(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	size_t len;

	if (size < 1 || size > 8192)
		return 0;
	s = cstr(data + 1, size - 1);
	len = size - 1;
	switch (data[0] % 6) {
	case 0:
		/* readdir() names hold no NUL. */
		backing_name(s, strlen(s));
		break;
	case 1:
		long_name(s, len);
		break;
	case 2:
		symlink_target(s, len);
		break;
	case 3:
		symlink_marker(s, len);
		break;
	case 4:
		round_trip_name(s, len);
		break;
	case 5:
		round_trip_symlink(s, len);
		break;
	}
	free(s);
	return 0;
}
