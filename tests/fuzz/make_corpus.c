/* SPDX-License-Identifier: MIT */
/* Writes the seeds of corpus/header and corpus/names that need the real
 * code and a fixed key: headers with both key slots and with a
 * pending-truncate record, and names, long names, symlink targets and
 * markers encrypted under fuzz_names' test key. The other seeds come from
 * `cmkfs init` and `cmkfs key` (volume, keystore) or are answers in the
 * form the emulators under tests/ send (azure, vault, barbican).
 * Not a test; run by hand: fuzz_make_corpus tests/fuzz/corpus */
#include "tests/fuzz/fuzz.h"

#include <limits.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "crypto/format.h"
#include "crypto/layout.h"
#include "crypto/names.h"

static const char *top;

static void put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", top, dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* A seed for fuzz_names: the operation's byte, then its input. */
static void put_names(const char *name, int op, const char *s, size_t len)
{
	char *buf = malloc(len + 1);

	if (!buf)
		exit(1);
	buf[0] = (char)op;
	memcpy(buf + 1, s, len);
	put("names", name, buf, len + 1);
	free(buf);
}

static void headers(void)
{
	static const uint8_t cmk[CMK_KEY_LEN] = { 9 }, dek[CMK_KEY_LEN] = { 8 };
	static const uint8_t nonce[CMK_GCM_NONCE_LEN] = { 7 };
	static const uint8_t vid[CMK_ID_LEN] = { 1 }, fid[CMK_ID_LEN] = { 2 };
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_pending p = { .new_size = 5000, .len = 13 };

	cmk_header_init(hdr, vid, fid);
	if (cmk_header_seal_slot(hdr, 0, 1, "1", cmk, dek, nonce) ||
	    cmk_header_seal_slot(hdr, 1, 2, "2", cmk, dek, nonce))
		exit(1);
	put("header", "two-slots", hdr, sizeof(hdr));
	/* A truncate to 5,000 bytes interrupted: the 13 bytes that end its
	 * new last unit. */
	p.off = cmk_backing_len(p.new_size) - p.len;
	memset(p.bytes, 0xa5, p.len);
	cmk_pending_encode(&p, hdr + CMK_PENDING_OFF);
	put("header", "pending-truncate", hdr, sizeof(hdr));
	/* Regression: an offset where offset + length wraps around 2^64
	 * was taken for a record to act on. */
	p.off = UINT64_MAX - 15;
	p.len = 32;
	cmk_pending_encode(&p, hdr + CMK_PENDING_OFF);
	put("header", "pending-wrapping-offset", hdr, sizeof(hdr));
}

static void names(void)
{
	static const uint8_t key[CMK_KEY_LEN] = FUZZ_NAMES_KEY;
	static const uint8_t volume_id[CMK_ID_LEN] = FUZZ_NAMES_VOLUME_ID;
	static const uint8_t dirid[CMK_DIRID_LEN] = FUZZ_NAMES_DIRID;
	static const uint8_t nonce[CMK_SYMLINK_NONCE_LEN] = { 3 };
	static char target[CMK_SYMLINK_PLAIN_MAX + 1];
	static char enc[CMK_SYMLINK_ENC_MAX + 1];
	char buf[CMK_SYMLINK_MARKER_LEN + 1 + CMK_SYMLINK_ENC_MAX + 1];
	char marker[CMK_SYMLINK_MARKER_LEN + 1], long_name[CMK_NAME_PLAIN_MAX];
	struct cmk_backing_name b;
	struct cmk_names *n;
	int len;

	if (cmk_names_new(key, volume_id, &n))
		exit(1);
	if (cmk_name_to_backing(n, dirid, "hello.txt", 9, &b))
		exit(1);
	put_names("name", 0, b.name, b.len);
	memset(long_name, 'n', sizeof(long_name));
	if (cmk_name_to_backing(n, dirid, long_name, sizeof(long_name), &b) ||
	    !b.is_long)
		exit(1);
	snprintf(buf, sizeof(buf), "%s\n%s", b.name, b.enc);
	put_names("long-name", 1, buf, strlen(buf));
	len = cmk_symlink_encrypt(n, "../photos/2024", 14, nonce, enc,
				  sizeof(enc));
	if (len < 0)
		exit(1);
	put_names("symlink", 2, enc, (size_t)len);
	memset(target, 't', 4000);
	len = cmk_symlink_encrypt(n, target, 4000, nonce, enc, sizeof(enc));
	if (len < 0 || cmk_symlink_marker(enc, (size_t)len, marker) < 0)
		exit(1);
	snprintf(buf, sizeof(buf), "%s\n%s", marker, enc);
	put_names("symlink-marker", 3, buf, strlen(buf));
	put_names("plain-name", 4, "with spaces \xc3\xbc.txt", 15);
	put_names("plain-target", 5, "/etc/cmkfs/cmkfs.conf", 21);
	cmk_names_free(n);
}

int main(int argc, char **argv)
{
	struct cmk_err err;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_make_corpus CORPUS_DIR\n");
		return 2;
	}
	top = argv[1];
	if (cmk_crypto_init(&err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	headers();
	names();
	return 0;
}
