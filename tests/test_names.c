/* SPDX-License-Identifier: MIT */
/* Encrypted names: AES-256-SIV against published vectors, name and symlink
 * encryption, strict decoding, long names, special names; and the test
 * vectors of docs/FORMAT.md "Encrypted names", regenerated from the code and
 * compared with the document. `test_names --print-vectors` prints them;
 * `test_names --bench` measures the cost of one name. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "crypto/format.h"
#include "crypto/names.h"

static uint8_t cmk1[32], cmk2[32], volume_id[16], other_volume[16],
	name_key[32], dirid[16], dirid2[16], nonce0[12], nonce1[12],
	link_nonce[16];

static void fixed_inputs(void)
{
	for (int i = 0; i < 32; i++) {
		cmk1[i] = (uint8_t)i;
		cmk2[i] = (uint8_t)(0x80 + i);
		name_key[i] = (uint8_t)(0x60 + i);
	}
	for (int i = 0; i < 16; i++) {
		volume_id[i] = (uint8_t)(0xa0 + i);
		other_volume[i] = (uint8_t)(0xa1 + i);
		dirid[i] = (uint8_t)(0xd0 + i);
		dirid2[i] = (uint8_t)(0xd1 + i);
		link_nonce[i] = (uint8_t)(0x90 + i);
	}
	for (int i = 0; i < 12; i++) {
		nonce0[i] = (uint8_t)(0xe0 + i);
		nonce1[i] = (uint8_t)(0xf0 + i);
	}
}

static struct cmk_names *fixed_names(const uint8_t *vol)
{
	struct cmk_names *names = NULL;

	if (cmk_names_new(name_key, vol, &names) != 0)
		abort();
	return names;
}

static void unhex(const char *hex, uint8_t *out)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned int byte;

		/* NOLINTNEXTLINE(cert-err34-c): the test vectors are hex */
		sscanf(hex + 2 * i, "%2x", &byte);
		out[i] = (uint8_t)byte;
	}
}

/* --- AES-256-SIV ---------------------------------------------------------- */
/* Wycheproof aes_siv_cmac_test.json, 512-bit keys (AES-256-SIV): tcId 305,
 * 320 and 323. Their "ct" is the SIV followed by the ciphertext, as ours. */
static void siv_known_answers(void)
{
	static const struct {
		const char *key, *aad, *msg, *ct;
	} v[] = {
		{ "e2c5662bb18fbb411d0304e4241db073fe60a4704fee290073513038"
		  "a22b4cd542580b2b4edbc37e3de01c0cb61abcad46986cdc491ce9e5"
		  "ae5af223ff58b953",
		  "fab912dec29a34aabfaef176", "0d",
		  "1c6969ecb15741a9959b7a8492250e391a" },
		{ "139383f3f82dc78e0b380027f9e5fcd2ed23716404be5c554452e4dc"
		  "73d237026594491820c6b8297185cc1fa84f49a5c7d7cd05c5de090f"
		  "f1c3397bc2740437",
		  "d39da73ffc03ad0a9213ffc7",
		  "48604944a80fadf50d55b87727934458c8",
		  "a9cf73951cb39823777f35c96c845169476e2ec2317cb6b8dd8b6172"
		  "fdceabff9d" },
		{ "cd8689f821817f59bfaa755131f2565161c7f4489f89b657ac9fa127"
		  "a9768535a702d001b9b99cc11c3976467b1b45865ff417dc256ebb50"
		  "79b7f1b3e08307b5",
		  "b3edffbb89b373fe04da244b",
		  "ebcfb2ffb681cc5dfa0c5c524c1b1cc87cc6b2bfa35dc36d15e80505"
		  "118b84a072a78a157b4d1837",
		  "1ac78aae2ede04eb47924d8f9f99fe75deb61bf693da7f3a2147c05f"
		  "6d29d17392356fe00f82b24cdbce774fd864561548f33dd3192d806f" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t key[64], aad[64], msg[64], want[80], got[80], back[64];
		size_t aad_len = strlen(v[i].aad) / 2;
		size_t len = strlen(v[i].msg) / 2;
		struct cmk_siv *siv = NULL;

		unhex(v[i].key, key);
		unhex(v[i].aad, aad);
		unhex(v[i].msg, msg);
		unhex(v[i].ct, want);
		CHECK_EQ_INT(cmk_siv_new(key, &siv), 0);
		if (!siv)
			continue;
		CHECK_EQ_INT(cmk_siv_encrypt(siv, aad, aad_len, msg, len, got),
			     0);
		CHECK(memcmp(got, want, len + 16) == 0);
		/* Twice on one object: each call starts afresh. */
		CHECK_EQ_INT(cmk_siv_encrypt(siv, aad, aad_len, msg, len, got),
			     0);
		CHECK(memcmp(got, want, len + 16) == 0);
		CHECK_EQ_INT(cmk_siv_decrypt(siv, aad, aad_len, want, len + 16,
					     back),
			     0);
		CHECK(memcmp(back, msg, len) == 0);
		/* Any flipped bit, in the tag, the ciphertext or the AAD. */
		for (size_t b = 0; b < len + 16; b++) {
			want[b] ^= 0x01;
			memset(back, 0xaa, sizeof(back));
			CHECK_EQ_INT(cmk_siv_decrypt(siv, aad, aad_len, want,
						     len + 16, back),
				     -EBADMSG);
			/* Nothing unauthenticated is handed out. */
			for (size_t k = 0; k < len; k++)
				CHECK(back[k] == 0);
			want[b] ^= 0x01;
		}
		aad[0] ^= 0x80;
		CHECK_EQ_INT(cmk_siv_decrypt(siv, aad, aad_len, want, len + 16,
					     back),
			     -EBADMSG);
		aad[0] ^= 0x80;
		CHECK_EQ_INT(cmk_siv_decrypt(siv, aad, aad_len, want, 16, back),
			     -EBADMSG);
		CHECK_EQ_INT(cmk_siv_encrypt(siv, aad, 0, msg, len, got),
			     -EINVAL);
		CHECK_EQ_INT(cmk_siv_encrypt(siv, aad, aad_len, msg, 0, got),
			     -EINVAL);
		cmk_siv_free(siv);
	}
}

/* --- names ---------------------------------------------------------------- */
static void name_round_trips(void)
{
	struct cmk_names *names = fixed_names(volume_id);
	char name[256], enc[CMK_NAME_ENC_MAX + 1], back[CMK_NAME_PLAIN_MAX + 1];
	int n, failures = 0;

	for (size_t len = 1; len <= CMK_NAME_PLAIN_MAX; len++) {
		for (size_t i = 0; i < len; i++)
			name[i] = (char)('A' + (len + i) % 26);
		n = cmk_name_encrypt(names, dirid, name, len, enc, sizeof(enc));
		if (n != (int)((4 * (len + 16) + 2) / 3) ||
		    strlen(enc) != (size_t)n ||
		    strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				"qrstuvwxyz0123456789-_") != (size_t)n ||
		    cmk_name_decrypt(names, dirid, enc, (size_t)n, back,
				     sizeof(back)) != (int)len ||
		    memcmp(back, name, len) != 0 || back[len] != '\0')
			failures++;
		/* The exact buffer size works, one byte less does not. */
		if (cmk_name_encrypt(names, dirid, name, len, enc,
				     (size_t)n + 1) != n ||
		    cmk_name_encrypt(names, dirid, name, len, enc, (size_t)n) !=
			    -ENAMETOOLONG ||
		    cmk_name_decrypt(names, dirid, enc, (size_t)n, back, len) !=
			    -ENAMETOOLONG)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	for (size_t i = 0; i < 255; i++)
		name[i] = 'z';
	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, name, 255, enc,
				      sizeof(enc)),
		     CMK_NAME_ENC_MAX);
	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, name, 1, enc, sizeof(enc)),
		     CMK_NAME_ENC_MIN);
	cmk_names_free(names);
}

/* Every byte value but '/' and NUL, alone (or, for '.', as "..."), and all
 * of them in one 254-byte name. */
static void every_byte(void)
{
	struct cmk_names *names = fixed_names(volume_id);
	char name[256], enc[CMK_NAME_ENC_MAX + 1], back[CMK_NAME_PLAIN_MAX + 1];
	size_t len = 0;
	int n, failures = 0;

	for (int b = 1; b < 256; b++) {
		size_t l = b == '.' ? 3 : 1;

		if (b == '/')
			continue;
		memset(name, b, l);
		n = cmk_name_encrypt(names, dirid, name, l, enc, sizeof(enc));
		if (n < 0 ||
		    cmk_name_decrypt(names, dirid, enc, (size_t)n, back,
				     sizeof(back)) != (int)l ||
		    memcmp(back, name, l) != 0)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	for (int b = 1; b < 256; b++)
		if (b != '/')
			name[len++] = (char)b;
	CHECK_EQ_INT(len, 254);
	n = cmk_name_encrypt(names, dirid, name, len, enc, sizeof(enc));
	CHECK(n > 0);
	CHECK_EQ_INT(cmk_name_decrypt(names, dirid, enc, (size_t)n, back,
				      sizeof(back)),
		     254);
	CHECK(memcmp(back, name, len) == 0);
	cmk_names_free(names);
}

static void bad_names(void)
{
	struct cmk_names *names = fixed_names(volume_id);
	char enc[CMK_NAME_ENC_MAX + 1], name[300];

	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, ".", 1, enc, sizeof(enc)),
		     -EINVAL);
	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, "..", 2, enc, sizeof(enc)),
		     -EINVAL);
	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, "", 0, enc, sizeof(enc)),
		     -EINVAL);
	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, "a/b", 3, enc, sizeof(enc)),
		     -EINVAL);
	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, "/", 1, enc, sizeof(enc)),
		     -EINVAL);
	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, "a\0b", 3, enc,
				      sizeof(enc)),
		     -EINVAL);
	memset(name, 'x', sizeof(name));
	CHECK_EQ_INT(cmk_name_encrypt(names, dirid, name, 256, enc,
				      sizeof(enc)),
		     -ENAMETOOLONG);
	/* Valid, for contrast. */
	CHECK(cmk_name_encrypt(names, dirid, "...", 3, enc, sizeof(enc)) > 0);
	CHECK(cmk_name_encrypt(names, dirid, ".a", 2, enc, sizeof(enc)) > 0);
	CHECK(cmk_name_encrypt(names, dirid, "cmkfs.dirid", 11, enc,
			       sizeof(enc)) > 0);
	CHECK(!cmk_name_is_special(enc));
	cmk_names_free(names);
}

/* A name encrypted by cmkfs but with a plaintext that is not a name (only
 * a writer holding the key could make one) is refused as well. */
static void authentic_non_names(void)
{
	static const char *const bad[] = { ".", "..", "a/b", "x\0y" };
	static const size_t bad_len[] = { 1, 2, 3, 3 };
	struct cmk_siv *siv = NULL;
	struct cmk_names *names = fixed_names(volume_id);
	uint8_t key[64], aad[20], raw[32];
	char enc[64], back[256];
	int failures = 0;

	cmk_hkdf_sha256(name_key, 32, volume_id, 16, "cmkfs v1 name siv key",
			key, 64);
	CHECK_EQ_INT(cmk_siv_new(key, &siv), 0);
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): associated data, no NUL */
	memcpy(aad, "name", 4);
	memcpy(aad + 4, dirid, 16);
	for (size_t i = 0; siv && i < 4; i++) {
		size_t len = bad_len[i], n = (4 * (len + 16) + 2) / 3;
		static const char alphabet[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789-_";
		uint32_t acc = 0;
		size_t o = 0;
		int bits = 0;

		cmk_siv_encrypt(siv, aad, sizeof(aad), (const uint8_t *)bad[i],
				len, raw);
		for (size_t k = 0; k < len + 16; k++) {
			acc = acc << 8 | raw[k];
			bits += 8;
			while (bits >= 6) {
				bits -= 6;
				enc[o++] = alphabet[(acc >> bits) & 63];
			}
		}
		if (bits)
			enc[o++] = alphabet[(acc << (6 - bits)) & 63];
		if (o != n || cmk_name_decrypt(names, dirid, enc, n, back,
					       sizeof(back)) != -EBADMSG)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	cmk_siv_free(siv);
	cmk_names_free(names);
}

static void tampering(void)
{
	static const char valid[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	static const char invalid[] = "=+/. \n\x01\x80\xff";
	struct cmk_names *names = fixed_names(volume_id);
	struct cmk_names *other = fixed_names(other_volume);
	static const size_t lens[] = { 1, 2, 3, 15, 16, 17, 100, 175, 176, 255 };
	char name[256], enc[CMK_NAME_ENC_MAX + 8], bad[CMK_NAME_ENC_MAX + 8];
	char back[CMK_NAME_PLAIN_MAX + 1];
	int not_rejected = 0;

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t len = lens[li], n;

		for (size_t i = 0; i < len; i++)
			name[i] = (char)('a' + i % 26);
		n = (size_t)cmk_name_encrypt(names, dirid, name, len, enc,
					     sizeof(enc));
		/* Every character replaced by every other valid one: a
		 * different ciphertext (tag fails) or, in the last
		 * character, non-canonical bits (decoding fails). */
		for (size_t pos = 0; pos < n; pos++) {
			for (const char *c = valid; *c; c++) {
				if (*c == enc[pos])
					continue;
				memcpy(bad, enc, n);
				bad[pos] = *c;
				if (cmk_name_decrypt(names, dirid, bad, n, back,
						     sizeof(back)) != -EBADMSG)
					not_rejected++;
			}
			for (const char *c = invalid; *c; c++) {
				memcpy(bad, enc, n);
				bad[pos] = *c;
				if (cmk_name_decrypt(names, dirid, bad, n, back,
						     sizeof(back)) != -EBADMSG)
					not_rejected++;
			}
			/* A NUL inside. */
			memcpy(bad, enc, n);
			bad[pos] = '\0';
			if (cmk_name_decrypt(names, dirid, bad, n, back,
					     sizeof(back)) != -EBADMSG)
				not_rejected++;
		}
		/* Truncated and extended, by one to three characters, and
		 * padded with '='. */
		for (size_t k = 1; k <= 3; k++) {
			if (cmk_name_decrypt(names, dirid, enc, n - k, back,
					     sizeof(back)) != -EBADMSG)
				not_rejected++;
			memcpy(bad, enc, n);
			memcpy(bad + n, "AAA", 3);
			if (cmk_name_decrypt(names, dirid, bad, n + k, back,
					     sizeof(back)) != -EBADMSG)
				not_rejected++;
			memcpy(bad + n, "===", 3);
			if (cmk_name_decrypt(names, dirid, bad, n + k, back,
					     sizeof(back)) != -EBADMSG)
				not_rejected++;
		}
		/* Another directory, another volume. */
		if (cmk_name_decrypt(names, dirid2, enc, n, back,
				     sizeof(back)) != -EBADMSG ||
		    cmk_name_decrypt(other, dirid, enc, n, back,
				     sizeof(back)) != -EBADMSG)
			not_rejected++;
	}
	CHECK_EQ_INT(not_rejected, 0);
	/* Lengths no encoding has, and the empty string. */
	memset(bad, 'A', sizeof(bad));
	for (size_t n = 0; n < sizeof(bad); n++)
		if (cmk_name_decrypt(names, dirid, bad, n, back,
				     sizeof(back)) != -EBADMSG)
			not_rejected++;
	CHECK_EQ_INT(not_rejected, 0);
	/* Standard base64 of a valid encoding ('+' and '/' for '-' and
	 * '_') is refused; find an encoding that has one. */
	for (int i = 0; i < 1000; i++) {
		int n;

		snprintf(name, sizeof(name), "file-%d", i);
		n = cmk_name_encrypt(names, dirid, name, strlen(name), enc,
				     sizeof(enc));
		if (!strpbrk(enc, "-_"))
			continue;
		for (char *p = enc; *p; p++)
			*p = (char)(*p == '-' ? '+' : *p == '_' ? '/' : *p);
		CHECK_EQ_INT(cmk_name_decrypt(names, dirid, enc, (size_t)n,
					      back, sizeof(back)),
			     -EBADMSG);
		break;
	}
	cmk_names_free(other);
	cmk_names_free(names);
}

static void determinism(void)
{
	struct cmk_names *names = fixed_names(volume_id);
	struct cmk_names *again = fixed_names(volume_id);
	struct cmk_names *other = fixed_names(other_volume);
	char a[CMK_NAME_ENC_MAX + 1], b[CMK_NAME_ENC_MAX + 1];

	cmk_name_encrypt(names, dirid, "report.pdf", 10, a, sizeof(a));
	cmk_name_encrypt(again, dirid, "report.pdf", 10, b, sizeof(b));
	CHECK(strcmp(a, b) == 0);
	cmk_name_encrypt(names, dirid2, "report.pdf", 10, b, sizeof(b));
	CHECK(strcmp(a, b) != 0);
	cmk_name_encrypt(other, dirid, "report.pdf", 10, b, sizeof(b));
	CHECK(strcmp(a, b) != 0);
	cmk_name_encrypt(names, dirid, "report.pdg", 10, b, sizeof(b));
	CHECK(strcmp(a, b) != 0);
	cmk_names_free(other);
	cmk_names_free(again);
	cmk_names_free(names);
}

/* --- long and special names ----------------------------------------------- */
static void long_names(void)
{
	struct cmk_names *names = fixed_names(volume_id);
	struct cmk_backing_name bn;
	char name[256], longname[CMK_LONG_LEN + 1], back[256];
	uint8_t sum[32];
	int failures = 0;

	memset(name, 'q', sizeof(name));
	for (size_t len = 1; len <= 255; len++) {
		bool want_long = len > CMK_NAME_SHORT_MAX;

		if (cmk_name_to_backing(names, dirid, name, len, &bn) != 0 ||
		    bn.is_long != want_long ||
		    bn.enc_len != (4 * (len + 16) + 2) / 3 ||
		    strlen(bn.name) != bn.len)
			failures++;
		if (!want_long) {
			if (strcmp(bn.name, bn.enc) != 0 || bn.side[0] ||
			    cmk_name_is_long(bn.name) ||
			    cmk_name_is_special(bn.name) ||
			    cmk_name_long_backing(bn.enc, bn.enc_len,
						  longname) != -EINVAL)
				failures++;
			continue;
		}
		cmk_sha256(bn.enc, bn.enc_len, sum);
		if (bn.len != CMK_LONG_LEN ||
		    strncmp(bn.name, "cmkfs.long.", 11) != 0 ||
		    !cmk_name_is_long(bn.name) ||
		    cmk_name_is_special(bn.name) ||
		    strlen(bn.side) != CMK_LONG_SIDE_LEN ||
		    strncmp(bn.side, bn.name, CMK_LONG_LEN) != 0 ||
		    strcmp(bn.side + CMK_LONG_LEN, ".name") != 0 ||
		    !cmk_name_is_special(bn.side) ||
		    cmk_name_long_check(bn.name, bn.enc, bn.enc_len) != 0 ||
		    cmk_name_decrypt(names, dirid, bn.enc, bn.enc_len, back,
				     sizeof(back)) != (int)len)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	CHECK_EQ_INT(CMK_NAME_SHORT_MAX, 175);
	CHECK_EQ_INT((4 * (CMK_NAME_SHORT_MAX + 16) + 2) / 3, 255);
	CHECK_EQ_INT((4 * (CMK_NAME_SHORT_MAX + 17) + 2) / 3, 256);

	/* A side file that does not belong to its entry. */
	CHECK_EQ_INT(cmk_name_to_backing(names, dirid, name, 200, &bn), 0);
	CHECK_EQ_INT(cmk_name_long_check(bn.name, bn.enc, bn.enc_len), 0);
	bn.enc[10] ^= 1;
	CHECK_EQ_INT(cmk_name_long_check(bn.name, bn.enc, bn.enc_len),
		     -EBADMSG);
	bn.enc[10] ^= 1;
	CHECK_EQ_INT(cmk_name_long_check(bn.name, bn.enc, bn.enc_len - 1),
		     -EBADMSG);
	bn.name[20] ^= 1;
	CHECK_EQ_INT(cmk_name_long_check(bn.name, bn.enc, bn.enc_len),
		     -EBADMSG);
	/* A short encoding in a side file: a second backing name for one
	 * name, refused. */
	CHECK_EQ_INT(cmk_name_to_backing(names, dirid, name, 10, &bn), 0);
	CHECK_EQ_INT(cmk_name_long_check("cmkfs.long.x", bn.enc, bn.enc_len),
		     -EBADMSG);

	/* The shape of long names. */
	CHECK(!cmk_name_is_long("cmkfs.long."));
	CHECK(!cmk_name_is_long(
		"cmkfs.long.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	CHECK(cmk_name_is_long(
		"cmkfs.long.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	CHECK(!cmk_name_is_long(
		"cmkfs.long.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"));
	CHECK(!cmk_name_is_long(
		"cmkfs.long.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
	CHECK(!cmk_name_is_long(
		"cmkfs.long.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.name"));

	/* Special names: hidden, never entries. */
	CHECK(cmk_name_is_special("cmkfs.dirid"));
	CHECK(cmk_name_is_special("cmkfs.volume"));
	CHECK(cmk_name_is_special("cmkfs.volume.tmp.1234"));
	CHECK(cmk_name_is_special(
		"cmkfs.long.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.name"));
	CHECK(cmk_name_is_special("cmkfs.long.garbage.name"));
	CHECK(!cmk_name_is_special(
		"cmkfs.long.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	CHECK(!cmk_name_is_special("AAAAAAAAAAAAAAAAAAAAAAA"));
	CHECK(!cmk_name_is_special("."));
	CHECK(!cmk_name_is_special(".."));
	CHECK(!cmk_name_is_special("cmkfs"));
	cmk_names_free(names);
}

/* --- symlink targets ------------------------------------------------------ */
static void symlinks(void)
{
	struct cmk_names *names = fixed_names(volume_id);
	struct cmk_names *other = fixed_names(other_volume);
	char *target = malloc(CMK_SYMLINK_ENC_MAX + 2);
	char *enc = malloc(CMK_SYMLINK_ENC_MAX + 8);
	char *enc2 = malloc(CMK_SYMLINK_ENC_MAX + 8);
	char *back = malloc(CMK_SYMLINK_ENC_MAX + 1);
	static const size_t lens[] = { 1,    2,	   3,	 16,   100,
				       1000, 3038, 3039, 3040, 4095 };
	int failures = 0, n;

	for (size_t i = 0; i <= CMK_SYMLINK_ENC_MAX; i++)
		target[i] = (char)("../dir/file"[i % 11]);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t len = lens[li];

		n = cmk_symlink_encrypt(names, target, len, NULL, enc,
					CMK_SYMLINK_ENC_MAX + 1);
		if (n != (int)((4 * (len + 32) + 2) / 3) ||
		    strlen(enc) != (size_t)n ||
		    cmk_symlink_plain_len((size_t)n) != (int)len ||
		    cmk_symlink_decrypt(names, enc, (size_t)n, back,
					CMK_SYMLINK_PLAIN_MAX + 1) !=
			    (int)len ||
		    memcmp(back, target, len) != 0 || back[len] != '\0')
			failures++;
		/* Equal targets do not match. */
		if (cmk_symlink_encrypt(names, target, len, NULL, enc2,
					CMK_SYMLINK_ENC_MAX + 1) != n ||
		    strcmp(enc, enc2) == 0)
			failures++;
		/* Not bound to a directory: only to the volume. */
		if (cmk_symlink_decrypt(other, enc, (size_t)n, back,
					CMK_SYMLINK_PLAIN_MAX + 1) != -EBADMSG)
			failures++;
		if (cmk_symlink_decrypt(names, enc, (size_t)n, back, len) !=
		    -ENAMETOOLONG)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	/* The longest inline target fills PATH_MAX - 1 exactly; Linux's
	 * longest target (PATH_MAX - 1) fits too, one more byte does not. */
	CHECK_EQ_INT(cmk_symlink_encrypt(names, target,
					 CMK_SYMLINK_INLINE_PLAIN, NULL, enc,
					 CMK_SYMLINK_ENC_MAX + 1),
		     CMK_SYMLINK_INLINE_MAX);
	CHECK_EQ_INT(cmk_symlink_encrypt(names, target, 4095, NULL, enc,
					 CMK_SYMLINK_ENC_MAX + 1),
		     CMK_SYMLINK_ENC_MAX);
	CHECK_EQ_INT(cmk_symlink_encrypt(names, target, 4095, NULL, enc,
					 CMK_SYMLINK_ENC_MAX),
		     -ENAMETOOLONG);
	CHECK_EQ_INT(cmk_symlink_encrypt(names, target,
					 CMK_SYMLINK_PLAIN_MAX + 1, NULL, enc,
					 CMK_SYMLINK_ENC_MAX + 8),
		     -ENAMETOOLONG);
	/* Markers: only for encodings that do not fit, bound to the
	 * encoding by its hash, stating the target's length. */
	{
		char marker[CMK_SYMLINK_MARKER_LEN + 1];

		n = cmk_symlink_encrypt(names, target, 4000, NULL, enc,
					CMK_SYMLINK_ENC_MAX + 1);
		CHECK_EQ_INT(cmk_symlink_marker(enc, (size_t)n, marker),
			     CMK_SYMLINK_MARKER_LEN);
		CHECK_EQ_INT((int)strlen(marker), CMK_SYMLINK_MARKER_LEN);
		CHECK(strncmp(marker, "cmkfs.lt.4000.", 14) == 0);
		CHECK_EQ_INT(cmk_symlink_plain_len(strlen(marker)), -EBADMSG);
		CHECK_EQ_INT(cmk_symlink_marker_plain_len(marker,
							  strlen(marker)),
			     4000);
		CHECK_EQ_INT(cmk_symlink_marker_check(marker, enc, (size_t)n),
			     0);
		enc[100] = enc[100] == 'A' ? 'B' : 'A';
		CHECK_EQ_INT(cmk_symlink_marker_check(marker, enc, (size_t)n),
			     -EBADMSG);
		CHECK_EQ_INT(cmk_symlink_marker_check(marker, enc,
						      (size_t)n - 1),
			     -EBADMSG);
		marker[10] = '9'; /* states another length */
		CHECK_EQ_INT(cmk_symlink_marker_plain_len(marker,
							  strlen(marker)),
			     -EBADMSG);
		marker[10] = '0';
		marker[9] = 'x';
		CHECK_EQ_INT(cmk_symlink_marker_plain_len(marker,
							  strlen(marker)),
			     -EBADMSG);
		n = cmk_symlink_encrypt(names, target, 3039, NULL, enc,
					CMK_SYMLINK_ENC_MAX + 1);
		CHECK_EQ_INT(cmk_symlink_marker(enc, (size_t)n, marker),
			     -EINVAL);
	}
	CHECK_EQ_INT(cmk_symlink_encrypt(names, target, 1, NULL, enc,
					 CMK_SYMLINK_ENC_MIN),
		     -ENAMETOOLONG);
	CHECK_EQ_INT(cmk_symlink_encrypt(names, target, 1, NULL, enc,
					 CMK_SYMLINK_ENC_MIN + 1),
		     CMK_SYMLINK_ENC_MIN);
	CHECK_EQ_INT(cmk_symlink_encrypt(names, "", 0, NULL, enc, 100),
		     -EINVAL);
	CHECK_EQ_INT(cmk_symlink_encrypt(names, "a\0b", 3, NULL, enc, 100),
		     -EINVAL);
	/* Targets may hold any other byte, '/' included. */
	for (int b = 1; b < 256; b++)
		back[b - 1] = (char)b;
	n = cmk_symlink_encrypt(names, back, 255, NULL, enc,
				CMK_SYMLINK_ENC_MAX + 1);
	CHECK(n > 0);
	CHECK_EQ_INT(cmk_symlink_decrypt(names, enc, (size_t)n, target,
					 CMK_SYMLINK_PLAIN_MAX + 1),
		     255);
	CHECK(memcmp(target, back, 255) == 0);

	/* Tampering: every character (nonce, tag, ciphertext), lengths. */
	for (size_t i = 0; i < 200; i++)
		target[i] = (char)('a' + i % 26);
	n = cmk_symlink_encrypt(names, target, 200, NULL, enc,
				CMK_SYMLINK_ENC_MAX + 1);
	failures = 0;
	for (int pos = 0; pos < n; pos++) {
		for (const char *c = "Aa0-_=+/."; *c; c++) {
			if (*c == enc[pos])
				continue;
			memcpy(enc2, enc, (size_t)n);
			enc2[pos] = *c;
			if (cmk_symlink_decrypt(names, enc2, (size_t)n, back,
						CMK_SYMLINK_PLAIN_MAX + 1) !=
			    -EBADMSG)
				failures++;
		}
	}
	for (int k = 1; k <= 4; k++) {
		memcpy(enc2, enc, (size_t)n);
		memcpy(enc2 + n, "AAAA", 4);
		if (cmk_symlink_decrypt(names, enc2, (size_t)n + (size_t)k,
					back, CMK_SYMLINK_PLAIN_MAX + 1) !=
			    -EBADMSG ||
		    cmk_symlink_decrypt(names, enc, (size_t)(n - k), back,
					CMK_SYMLINK_PLAIN_MAX + 1) != -EBADMSG)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	/* A name is not a symlink target (domain tags), even with the
	 * length of one. */
	CHECK_EQ_INT(cmk_symlink_decrypt(names, enc, 43, back,
					 CMK_SYMLINK_PLAIN_MAX + 1),
		     -EBADMSG);
	/* Lengths and plain lengths agree for every possible length. */
	failures = 0;
	for (size_t e = 0; e <= CMK_SYMLINK_ENC_MAX + 4; e++) {
		int p = cmk_symlink_plain_len(e);
		bool possible = e >= CMK_SYMLINK_ENC_MIN &&
				e <= CMK_SYMLINK_ENC_MAX && e % 4 != 1;

		if (possible != (p > 0) ||
		    (possible && (4 * ((size_t)p + 32) + 2) / 3 != e))
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	free(target);
	free(enc);
	free(enc2);
	free(back);
	cmk_names_free(other);
	cmk_names_free(names);
}

/* --- extended attributes -------------------------------------------------- */
static void xattr_names(void)
{
	struct cmk_names *names = fixed_names(volume_id);
	struct cmk_names *other = fixed_names(other_volume);
	char name[CMK_XATTR_NAME_MAX + 2], enc[CMK_XATTR_NAME_ENC_MAX + 1],
		back[CMK_XATTR_NAME_MAX + 1];
	int n, failures = 0;

	for (size_t len = 1; len <= CMK_XATTR_NAME_PLAIN_MAX; len++) {
		size_t want = 5 + (4 * (len + 16) + 2) / 3;

		memcpy(name, "user.", 5);
		for (size_t i = 0; i < len; i++)
			name[5 + i] = (char)('a' + (len + i) % 26);
		name[5 + len] = '\0';
		n = cmk_xattr_name_encrypt(names, dirid, name, enc,
					   sizeof(enc));
		if (n != (int)want || strlen(enc) != want ||
		    strncmp(enc, "user.", 5) != 0 ||
		    strspn(enc + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				    "qrstuvwxyz0123456789-_") != want - 5 ||
		    cmk_xattr_name_decrypt(names, dirid, enc, back,
					   sizeof(back)) != (int)(len + 5) ||
		    strcmp(back, name) != 0)
			failures++;
		/* Exact buffers work, one byte less does not. */
		if (cmk_xattr_name_encrypt(names, dirid, name, enc, want + 1) !=
			    n ||
		    cmk_xattr_name_encrypt(names, dirid, name, enc, want) !=
			    -ERANGE ||
		    cmk_xattr_name_decrypt(names, dirid, enc, back, len + 5) !=
			    -ERANGE)
			failures++;
		/* Bound to the object and the volume. */
		if (cmk_xattr_name_decrypt(names, dirid2, enc, back,
					   sizeof(back)) != -EBADMSG ||
		    cmk_xattr_name_decrypt(other, dirid, enc, back,
					   sizeof(back)) != -EBADMSG)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	CHECK_EQ_INT(cmk_xattr_name_encrypt(names, dirid, "user.a", enc,
					    sizeof(enc)),
		     CMK_XATTR_NAME_ENC_MIN);
	/* Deterministic: a get finds what a set stored. */
	cmk_xattr_name_encrypt(names, dirid, "user.comment", enc, sizeof(enc));
	cmk_xattr_name_encrypt(names, dirid, "user.comment", back,
			       sizeof(back));
	CHECK(strcmp(enc, back) == 0);
	/* Limits and namespaces. */
	memcpy(name, "user.", 5);
	memset(name + 5, 'x', CMK_XATTR_NAME_PLAIN_MAX + 1);
	name[CMK_XATTR_NAME_MAX + 1] = '\0';
	CHECK_EQ_INT(cmk_xattr_name_encrypt(names, dirid, name, enc,
					    sizeof(enc)),
		     -ERANGE);
	name[CMK_XATTR_NAME_MAX] = '\0';
	CHECK_EQ_INT(cmk_xattr_name_encrypt(names, dirid, name, enc,
					    sizeof(enc)),
		     CMK_XATTR_NAME_ENC_MAX);
	CHECK_EQ_INT(cmk_xattr_name_encrypt(names, dirid, "user.", enc,
					    sizeof(enc)),
		     -EINVAL);
	CHECK_EQ_INT(cmk_xattr_name_encrypt(names, dirid, "security.x", enc,
					    sizeof(enc)),
		     -EOPNOTSUPP);
	CHECK_EQ_INT(cmk_xattr_name_encrypt(names, dirid, "trusted.x", enc,
					    sizeof(enc)),
		     -EOPNOTSUPP);
	CHECK(cmk_xattr_is_user("user.x"));
	CHECK(!cmk_xattr_is_user("user."));
	CHECK(!cmk_xattr_is_user("system.posix_acl_access"));
	CHECK(!cmk_xattr_is_user("User.x"));
	/* Tampering: every character changed, and foreign names. */
	cmk_xattr_name_encrypt(names, dirid, "user.comment", enc, sizeof(enc));
	failures = 0;
	for (size_t i = 0; enc[i]; i++) {
		char t[sizeof(enc)];

		memcpy(t, enc, sizeof(enc));
		t[i] = t[i] == 'A' ? 'B' : 'A';
		if (cmk_xattr_name_decrypt(names, dirid, t, back,
					   sizeof(back)) != -EBADMSG)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	CHECK_EQ_INT(cmk_xattr_name_decrypt(names, dirid, "user.comment", back,
					    sizeof(back)),
		     -EBADMSG);
	CHECK_EQ_INT(cmk_xattr_name_decrypt(names, dirid, "security.selinux",
					    back, sizeof(back)),
		     -EBADMSG);
	memcpy(name, "trust", 5);
	memcpy(name + 5, enc + 5, strlen(enc) - 4);
	CHECK_EQ_INT(cmk_xattr_name_decrypt(names, dirid, name, back,
					    sizeof(back)),
		     -EBADMSG);
	/* Not a file name: the domains do not mix. */
	n = cmk_name_encrypt(names, dirid, "comment", 7, name, sizeof(name));
	CHECK(n > 0);
	memmove(name + 5, name, (size_t)n + 1);
	memcpy(name, "user.", 5);
	CHECK_EQ_INT(cmk_xattr_name_decrypt(names, dirid, name, back,
					    sizeof(back)),
		     -EBADMSG);
	cmk_names_free(other);
	cmk_names_free(names);
}

static void xattr_values(void)
{
	static const size_t lens[] = { 0,  1,	15,   16,
				       17, 100, 4096, CMK_XATTR_VALUE_MAX };
	struct cmk_names *names = fixed_names(volume_id);
	struct cmk_names *other = fixed_names(other_volume);
	size_t big = CMK_XATTR_VALUE_MAX + CMK_XATTR_OVERHEAD + 1;
	uint8_t *value = malloc(big), *enc = malloc(big), *enc2 = malloc(big),
		*back = malloc(big);
	int n, failures = 0;

	for (size_t i = 0; i < big; i++)
		value[i] = (uint8_t)(i * 7 + 3);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t len = lens[k];

		n = cmk_xattr_value_encrypt(names, dirid, "user.v", value, len,
					    NULL, enc, big);
		if (n != (int)(len + CMK_XATTR_OVERHEAD) ||
		    cmk_xattr_value_plain_len((size_t)n) != (int)len ||
		    cmk_xattr_value_decrypt(names, dirid, "user.v", enc,
					    (size_t)n, back, len) != (int)len ||
		    (len && memcmp(back, value, len) != 0))
			failures++;
		/* A buffer one byte short: ERANGE. */
		if (len && cmk_xattr_value_decrypt(names, dirid, "user.v", enc,
						   (size_t)n, back,
						   len - 1) != -ERANGE)
			failures++;
		if (cmk_xattr_value_encrypt(
			    names, dirid, "user.v", value, len, NULL, enc2,
			    len + CMK_XATTR_OVERHEAD - 1) != -ERANGE)
			failures++;
		/* A fresh nonce each time: equal values differ. */
		if (cmk_xattr_value_encrypt(names, dirid, "user.v", value, len,
					    NULL, enc2, big) != n ||
		    memcmp(enc, enc2, (size_t)n) == 0)
			failures++;
		/* Bound to the name, the object and the volume. */
		if (cmk_xattr_value_decrypt(names, dirid, "user.w", enc,
					    (size_t)n, back, big) != -EBADMSG ||
		    cmk_xattr_value_decrypt(names, dirid2, "user.v", enc,
					    (size_t)n, back, big) != -EBADMSG ||
		    cmk_xattr_value_decrypt(other, dirid, "user.v", enc,
					    (size_t)n, back, big) != -EBADMSG)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	CHECK_EQ_INT(cmk_xattr_value_encrypt(names, dirid, "user.v", value,
					     CMK_XATTR_VALUE_MAX + 1, NULL, enc,
					     big),
		     -E2BIG);
	CHECK_EQ_INT(cmk_xattr_value_plain_len(CMK_XATTR_OVERHEAD - 1),
		     -EBADMSG);
	CHECK_EQ_INT(cmk_xattr_value_plain_len(65537), -EBADMSG);
	CHECK_EQ_INT(cmk_xattr_value_plain_len(65536), CMK_XATTR_VALUE_MAX);
	/* Every byte of a stored value flipped, and every truncation. */
	n = cmk_xattr_value_encrypt(names, dirid, "user.v", value, 40, NULL,
				    enc, big);
	CHECK_EQ_INT(n, 40 + CMK_XATTR_OVERHEAD);
	failures = 0;
	for (int i = 0; i < n; i++) {
		enc[i] ^= 0x01;
		if (cmk_xattr_value_decrypt(names, dirid, "user.v", enc,
					    (size_t)n, back, big) != -EBADMSG)
			failures++;
		enc[i] ^= 0x01;
		if (cmk_xattr_value_decrypt(names, dirid, "user.v", enc,
					    (size_t)i, back, big) != -EBADMSG)
			failures++;
	}
	CHECK_EQ_INT(failures, 0);
	CHECK_EQ_INT(cmk_xattr_value_decrypt(names, dirid, "user.v", enc,
					     (size_t)n, back, big),
		     40);
	/* Values of two names (or two objects) swapped do not open. */
	n = cmk_xattr_value_encrypt(names, dirid2, "user.v", value, 40, NULL,
				    enc2, big);
	CHECK_EQ_INT(cmk_xattr_value_decrypt(names, dirid, "user.v", enc2,
					     (size_t)n, back, big),
		     -EBADMSG);
	free(value);
	free(enc);
	free(enc2);
	free(back);
	cmk_names_free(other);
	cmk_names_free(names);
}

/* --- threads -------------------------------------------------------------- */
struct thread_arg {
	struct cmk_names *names;
	int id;
	int failures;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	char name[64], enc[CMK_NAME_ENC_MAX + 1], back[256];
	char want[CMK_NAME_ENC_MAX + 1];
	int n;

	cmk_name_encrypt(a->names, dirid, "shared", 6, want, sizeof(want));
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "t%d-file-%d", a->id, i);
		n = cmk_name_encrypt(a->names, dirid, name, strlen(name), enc,
				     sizeof(enc));
		if (n < 0 ||
		    cmk_name_decrypt(a->names, dirid, enc, (size_t)n, back,
				     sizeof(back)) != (int)strlen(name) ||
		    strcmp(back, name) != 0)
			a->failures++;
		if (cmk_name_encrypt(a->names, dirid, "shared", 6, enc,
				     sizeof(enc)) < 0 ||
		    strcmp(enc, want) != 0)
			a->failures++;
	}
	return NULL;
}

static void threads(void)
{
	struct cmk_names *names = fixed_names(volume_id);
	struct thread_arg args[4];
	pthread_t tids[4];

	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ .names = names, .id = i };
		pthread_create(&tids[i], NULL, thread_main, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tids[i], NULL);
		CHECK_EQ_INT(args[i].failures, 0);
	}
	cmk_names_free(names);
}

/* --- volume descriptor with a name key ---------------------------------- */
static void fixed_descriptor(uint8_t *buf)
{
	struct cmk_volume_info vi;

	memset(&vi, 0, sizeof(vi));
	vi.format_version = CMK_FORMAT_VERSION;
	vi.suite = CMK_SUITE_XTS_GCM;
	vi.unit_size = CMK_UNIT_SIZE;
	vi.header_size = CMK_HEADER_SIZE;
	vi.flags = CMK_VOLUME_FLAG_ENC_NAMES;
	memcpy(vi.volume_id, volume_id, 16);
	strcpy(vi.cmk_name, "cmk");
	strcpy(vi.mac_version, "2");
	/* Made under version 1, then rotated to version 2: slot 1 written
	 * with sequence number 2, the MAC made again under version 2. */
	memset(buf, 0, CMK_VOLUME_SIZE);
	if (cmk_volume_encode_fields(buf, &vi) != 0 ||
	    cmk_volume_seal_name_slot(buf, 0, 1, "1", cmk1, name_key, nonce0) !=
		    0 ||
	    cmk_volume_seal_name_slot(buf, 1, 2, "2", cmk2, name_key, nonce1) !=
		    0 ||
	    cmk_volume_mac(buf, cmk2) != 0)
		abort();
}

/* --- vectors ------------------------------------------------------------ */
static void hex_line(FILE *out, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(out, "%02x%s", p[i],
			(i % 32 == 31 && i + 1 < len) ? "\n" : "");
	fputc('\n', out);
}

/* Text wrapped at 64 characters. */
static void text_lines(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i += 64)
		fprintf(out, "%.*s\n", (int)(len - i < 64 ? len - i : 64),
			s + i);
}

static void print_vectors(FILE *out)
{
	static const struct {
		size_t len;
		char c;
	} vn[] = { { 1, 'a' },	 { 15, 'b' },  { 16, 'c' },  { 17, 'd' },
		   { 100, 'e' }, { 175, 'g' }, { 176, 'h' }, { 255, 'f' } };
	static const char link[] = "../shared/report.txt";
	struct cmk_names *names = fixed_names(volume_id);
	uint8_t derived[64], vol[CMK_VOLUME_SIZE], aad[39];
	struct cmk_backing_name bn;
	char name[256], enc[CMK_SYMLINK_ENC_MAX + 1];
	int n;

	fprintf(out, "```\n");
	fprintf(out, "volume id:    ");
	hex_line(out, volume_id, 16);
	fprintf(out, "name key:     ");
	hex_line(out, name_key, 32);
	fprintf(out, "directory id: ");
	hex_line(out, dirid, 16);
	cmk_hkdf_sha256(name_key, 32, volume_id, 16, "cmkfs v1 name siv key",
			derived, 64);
	fprintf(out, "SIV key = HKDF(name key, volume id, "
		     "\"cmkfs v1 name siv key\"):\n");
	hex_line(out, derived, 64);
	memcpy(aad, "name", 4);
	memcpy(aad + 4, dirid, 16);
	fprintf(out, "name AAD = \"name\" || directory id:\n");
	hex_line(out, aad, 20);

	for (size_t i = 0; i < sizeof(vn) / sizeof(vn[0]); i++) {
		memset(name, vn[i].c, vn[i].len);
		if (cmk_name_to_backing(names, dirid, name, vn[i].len, &bn))
			abort();
		fprintf(out,
			"\nname: %zu x \"%c\"; encoding, %zu characters:\n",
			vn[i].len, vn[i].c, bn.enc_len);
		text_lines(out, bn.enc, bn.enc_len);
		if (vn[i].len == 1) {
			struct cmk_siv *siv = NULL;
			uint8_t raw[17];

			/* The same bytes in hex, as a worked example. */
			if (cmk_siv_new(derived, &siv) != 0 ||
			    cmk_siv_encrypt(siv, aad, 20, (const uint8_t *)name,
					    1, raw) != 0)
				abort();
			cmk_siv_free(siv);
			fprintf(out, "(SIV output, tag || ciphertext: ");
			for (size_t k = 0; k < sizeof(raw); k++)
				fprintf(out, "%02x", raw[k]);
			fprintf(out, ")\n");
		}
		if (bn.is_long)
			fprintf(out,
				"backing name (long): %s\n"
				"side file %s holds the encoding\n",
				bn.name, bn.side);
		else
			fprintf(out, "backing name: the encoding\n");
	}

	n = cmk_symlink_encrypt(names, link, strlen(link), link_nonce, enc,
				sizeof(enc));
	if (n < 0)
		abort();
	fprintf(out, "\nsymlink target \"%s\" (%zu bytes), nonce:\n", link,
		strlen(link));
	hex_line(out, link_nonce, 16);
	memcpy(aad, "symlink", 7);
	memcpy(aad + 7, volume_id, 16);
	memcpy(aad + 23, link_nonce, 16);
	fprintf(out, "symlink AAD = \"symlink\" || volume id || nonce:\n");
	hex_line(out, aad, 39);
	fprintf(out, "encoding, %d characters:\n", n);
	text_lines(out, enc, (size_t)n);

	{
		static const char xname[] = "user.comment", xval[] = "hello";
		uint8_t xaad[11 + 16 + 16 + sizeof(xname) - 1], raw[64];

		n = cmk_xattr_name_encrypt(names, dirid, xname, enc,
					   sizeof(enc));
		if (n < 0)
			abort();
		fprintf(out,
			"\nextended attribute \"%s\" of the directory "
			"above (bind = its id):\n",
			xname);
		/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): associated data, not a string */
		memcpy(xaad, "xattr-name", 10);
		memcpy(xaad + 10, dirid, 16);
		fprintf(out, "xattr name AAD = \"xattr-name\" || bind:\n");
		hex_line(out, xaad, 26);
		fprintf(out, "backing name, %d characters:\n", n);
		text_lines(out, enc, (size_t)n);
		n = cmk_xattr_value_encrypt(names, dirid, xname, xval,
					    strlen(xval), link_nonce, raw,
					    sizeof(raw));
		if (n < 0)
			abort();
		/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): associated data, not a string */
		memcpy(xaad, "xattr-value", 11);
		memcpy(xaad + 11, dirid, 16);
		memcpy(xaad + 27, link_nonce, 16);
		memcpy(xaad + 43, xname, sizeof(xname) - 1);
		fprintf(out,
			"value \"%s\", nonce 90..9f; xattr value AAD = "
			"\"xattr-value\" || bind || nonce || name:\n",
			xval);
		hex_line(out, xaad, sizeof(xaad));
		fprintf(out,
			"backing value, %d bytes (nonce || tag || "
			"ciphertext of 01 || value):\n",
			n);
		hex_line(out, raw, (size_t)n);
	}

	fixed_descriptor(vol);
	fprintf(out, "\nCMK version \"1\": ");
	hex_line(out, cmk1, 32);
	fprintf(out, "CMK version \"2\": ");
	hex_line(out, cmk2, 32);
	cmk_hkdf_sha256(cmk1, 32, volume_id, 16, "cmkfs v1 name key wrap",
			derived, 32);
	fprintf(out, "name-key wrapping key, version 1 = HKDF(CMK 1, volume "
		     "id, \"cmkfs v1 name key wrap\"):\n");
	hex_line(out, derived, 32);
	cmk_hkdf_sha256(cmk2, 32, volume_id, 16, "cmkfs v1 name key wrap",
			derived, 32);
	fprintf(out, "name-key wrapping key, version 2:\n");
	hex_line(out, derived, 32);
	fprintf(out, "name slot 0: sequence 1, version \"1\", nonce ");
	hex_line(out, nonce0, 12);
	fprintf(out, "name slot 1: sequence 2, version \"2\", nonce ");
	hex_line(out, nonce1, 12);
	fprintf(out, "\nvolume descriptor (flags 1, key name \"cmk\", MAC "
		     "version \"2\"), bytes 0-1023 (then zero up to the "
		     "MAC):\n");
	hex_line(out, vol, 1024);
	fprintf(out, "MAC (bytes 4064-4095): ");
	hex_line(out, vol + CMK_VOLUME_SIZE - 32, 32);
	fprintf(out, "```\n");
	cmk_names_free(names);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len;

	if (f) {
		buf = malloc(1 << 20);
		len = fread(buf, 1, (1 << 20) - 1, f);
		buf[len] = '\0';
		fclose(f);
	}
	return buf;
}

static void vectors_match_document(void)
{
	static const char begin_mark[] = "<!-- names-vectors:begin -->\n";
	static const char end_mark[] = "<!-- names-vectors:end -->";
	const char *src = getenv("CMKFS_SOURCE_DIR");
	char path[4096], *doc, *begin, *end, *mine;
	size_t mine_len;
	FILE *out;

	snprintf(path, sizeof(path), "%s/docs/FORMAT.md", src ? src : ".");
	doc = read_all(path);
	CHECK(doc != NULL);
	if (!doc)
		return;
	begin = strstr(doc, begin_mark);
	end = strstr(doc, end_mark);
	CHECK(begin && end && begin < end);
	if (!begin || !end || begin > end) {
		free(doc);
		return;
	}
	begin += strlen(begin_mark);
	*end = '\0';
	out = open_memstream(&mine, &mine_len);
	print_vectors(out);
	fclose(out);
	CHECK(strcmp(begin, mine) == 0);
	if (strcmp(begin, mine) != 0)
		fprintf(stderr, "docs/FORMAT.md name vectors differ from the "
				"code; regenerate with test_names "
				"--print-vectors\n");
	free(mine);
	free(doc);
}

/* --- cost of one name ----------------------------------------------------- */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench(void)
{
	static const size_t lens[] = { 8, 16, 32, 100, 255 };
	struct cmk_names *names = fixed_names(volume_id);
	char name[256], enc[CMK_NAME_ENC_MAX + 1], back[256];
	const int rounds = 100000;

	memset(name, 'n', sizeof(name));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		double t0, t1, t2;
		int n = 0;

		t0 = now();
		for (int r = 0; r < rounds; r++)
			n = cmk_name_encrypt(names, dirid, name, lens[i], enc,
					     sizeof(enc));
		t1 = now();
		for (int r = 0; r < rounds; r++)
			cmk_name_decrypt(names, dirid, enc, (size_t)n, back,
					 sizeof(back));
		t2 = now();
		printf("name of %3zu bytes: encrypt %.2f us, decrypt %.2f us\n",
		       lens[i], (t1 - t0) / rounds * 1e6,
		       (t2 - t1) / rounds * 1e6);
	}
	cmk_names_free(names);
}

int main(int argc, char **argv)
{
	if (cmk_crypto_init(NULL) < 0)
		return 1;
	fixed_inputs();
	if (argc > 1 && strcmp(argv[1], "--print-vectors") == 0) {
		print_vectors(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
		bench();
		return 0;
	}
	siv_known_answers();
	name_round_trips();
	every_byte();
	bad_names();
	authentic_non_names();
	tampering();
	determinism();
	long_names();
	symlinks();
	xattr_names();
	xattr_values();
	threads();
	vectors_match_document();
	return check_exit();
}
