/* SPDX-License-Identifier: MIT */
/* The OpenSSL wrappers against published known-answer vectors, so that a
 * wrong tweak or parameter order cannot hide behind a round trip. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crypto/crypto.h"

static void unhex(const char *hex, uint8_t *out)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned int byte;

		/* NOLINTNEXTLINE(cert-err34-c): the test vectors are hex */
		sscanf(hex + 2 * i, "%2x", &byte);
		out[i] = (uint8_t)byte;
	}
}

static void hkdf_rfc5869_case1(void)
{
	uint8_t ikm[22], salt[13], okm[42], want[42];
	char info[11];

	memset(ikm, 0x0b, sizeof(ikm));
	unhex("000102030405060708090a0b0c", salt);
	unhex("f0f1f2f3f4f5f6f7f8f9", (uint8_t *)info);
	info[10] = '\0';
	unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	      "34007208d5b887185865",
	      want);
	CHECK_EQ_INT(cmk_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info,
				     okm, sizeof(okm)),
		     0);
	CHECK(memcmp(okm, want, sizeof(want)) == 0);
}

/* RFC 5869 test case 3: no salt, no info. */
static void hkdf_rfc5869_case3(void)
{
	uint8_t ikm[22], okm[42], want[42];

	memset(ikm, 0x0b, sizeof(ikm));
	unhex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	      "9d201395faa4b61a96c8",
	      want);
	CHECK_EQ_INT(cmk_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, "", okm,
				     sizeof(okm)),
		     0);
	CHECK(memcmp(okm, want, sizeof(want)) == 0);
}

/* IEEE 1619-2007 vector 10: AES-256, data unit sequence number 0xff (the
 * tweak, little-endian as in cmkfs), 512 bytes. */
static void xts_ieee1619_vector10(void)
{
	uint8_t key[64], plain[512], cipher[512], want_head[16], want_tail[16];
	struct cmk_xts *xts = NULL;

	unhex("2718281828459045235360287471352662497757247093699959574966967627"
	      "3141592653589793238462643383279502884197169399375105820974944592",
	      key);
	for (int i = 0; i < 512; i++)
		plain[i] = (uint8_t)i;
	unhex("1c3b3a102f770386e4836c99e370cf9b", want_head);
	unhex("c4f36ffda9fcea70b9c6e693e148c151", want_tail);
	CHECK_EQ_INT(cmk_xts_new(key, &xts), 0);
	if (!xts)
		return;
	CHECK_EQ_INT(cmk_xts_crypt(xts, true, 0xff, plain, cipher, 512), 0);
	CHECK(memcmp(cipher, want_head, 16) == 0);
	CHECK(memcmp(cipher + 496, want_tail, 16) == 0);
	/* In place, and back. */
	CHECK_EQ_INT(cmk_xts_crypt(xts, false, 0xff, cipher, cipher, 512), 0);
	CHECK(memcmp(cipher, plain, 512) == 0);
	/* Ciphertext stealing: 17 bytes round-trip, 15 are refused. */
	CHECK_EQ_INT(cmk_xts_crypt(xts, true, 1, plain, cipher, 17), 0);
	CHECK_EQ_INT(cmk_xts_crypt(xts, false, 1, cipher, cipher, 17), 0);
	CHECK(memcmp(cipher, plain, 17) == 0);
	CHECK_EQ_INT(cmk_xts_crypt(xts, true, 1, plain, cipher, 15), -EINVAL);
	cmk_xts_free(xts);

	/* Equal halves are refused. */
	memcpy(key + 32, key, 32);
	CHECK_EQ_INT(cmk_xts_new(key, &xts), -EINVAL);
}

/* NIST GCM test case 16 (AES-256, 96-bit IV, with AAD). */
static void gcm_nist_case16(void)
{
	uint8_t key[32], iv[12], aad[20], plain[60], cipher[60], tag[16];
	uint8_t want[60], want_tag[16], back[60];

	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	      key);
	unhex("cafebabefacedbaddecaf888", iv);
	unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad);
	unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	      plain);
	unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	      want);
	unhex("76fc6ece0f4e1768cddf8853bb2d551b", want_tag);
	CHECK_EQ_INT(cmk_gcm_seal(key, iv, aad, sizeof(aad), plain, 60, cipher,
				  tag),
		     0);
	CHECK(memcmp(cipher, want, 60) == 0);
	CHECK(memcmp(tag, want_tag, 16) == 0);
	CHECK_EQ_INT(cmk_gcm_open(key, iv, aad, sizeof(aad), cipher, 60, tag,
				  back),
		     0);
	CHECK(memcmp(back, plain, 60) == 0);
	tag[0] ^= 1;
	CHECK_EQ_INT(cmk_gcm_open(key, iv, aad, sizeof(aad), cipher, 60, tag,
				  back),
		     -EBADMSG);
	/* A failed open leaves no unauthenticated plaintext behind. */
	uint8_t zero[60] = { 0 };
	CHECK(memcmp(back, zero, 60) == 0);
}

static void hmac_rfc4231_case2(void)
{
	uint8_t mac[32], want[32];

	unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	      want);
	CHECK_EQ_INT(cmk_hmac_sha256((const uint8_t *)"Jefe", 4,
				     "what do ya want for nothing?", 28, mac),
		     0);
	CHECK(memcmp(mac, want, 32) == 0);
}

static void scrypt_rfc7914(void)
{
	uint8_t out[64], want[64];

	unhex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
	      "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
	      want);
	CHECK_EQ_INT(cmk_scrypt("password", 8, (const uint8_t *)"NaCl", 4, 1024,
				8, 16, out, sizeof(out)),
		     0);
	CHECK(memcmp(out, want, sizeof(want)) == 0);
}

static void base64(void)
{
	uint8_t out[8];
	char text[16];
	size_t len = 0;

	CHECK_EQ_INT(cmk_base64_encode((const uint8_t *)"foobar", 6, text,
				       sizeof(text)),
		     0);
	CHECK(strcmp(text, "Zm9vYmFy") == 0);
	CHECK_EQ_INT(cmk_base64_decode("Zm9vYg==\n", 9, out, sizeof(out), &len),
		     0);
	CHECK_EQ_INT(len, 4);
	CHECK(memcmp(out, "foob", 4) == 0);
	CHECK_EQ_INT(cmk_base64_decode("Zm9v!mFy", 8, out, sizeof(out), &len),
		     -EINVAL);
	CHECK_EQ_INT(cmk_base64_decode("Zm9vYmFyYmF6", 12, out, 8, &len),
		     -EMSGSIZE);
	CHECK_EQ_INT(cmk_base64_encode((const uint8_t *)"foobar", 6, text, 8),
		     -EMSGSIZE);
}

static void secure_memory(void)
{
	uint8_t *key = cmk_secure_alloc(32);
	uint8_t plain[8] = { 0 };

	CHECK(key != NULL);
	CHECK(cmk_secure_is_locked(key));
	CHECK(!cmk_secure_is_locked(plain));
	cmk_secure_free(key, 32);
	CHECK(cmk_memeq_ct("abc", "abc", 3));
	CHECK(!cmk_memeq_ct("abc", "abd", 3));
}

/* The locked heap: every size class and a large block, zeroed blocks,
 * realloc, ownership, and memory the kernel reports as locked. */
static void locked_heap(void)
{
	static const size_t sizes[] = {
		0, 1, 16, 17, 32, 100, 1000, 4096, 65535, 65536, 65537, 300000
	};
	size_t locked = 0, in_use = 0, vmlck = 0;
	char line[256];
	uint8_t *p, *q;
	FILE *f;
	int on_stack;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i] ? sizes[i] : 1;

		p = cmk_locked_malloc(sizes[i]);
		CHECK(p != NULL);
		CHECK(((uintptr_t)p & 15) == 0);
		CHECK(cmk_locked_owns(p));
		CHECK(cmk_locked_owns(p + n - 1));
		for (size_t j = 0; j < n; j++)
			CHECK_EQ_INT(p[j], 0); /* handed out zeroed */
		memset(p, 0xa5, n);
		cmk_locked_free(p);
	}
	/* A freed block comes back wiped (the free list is LIFO). */
	p = cmk_locked_malloc(48);
	memset(p, 0x5a, 48);
	cmk_locked_free(p);
	q = cmk_locked_calloc(3, 16);
	CHECK(q == p);
	for (size_t j = 0; j < 48; j++)
		CHECK_EQ_INT(q[j], 0);
	/* realloc keeps the contents, across classes and into a mapping of
	 * its own. */
	for (size_t j = 0; j < 48; j++)
		q[j] = (uint8_t)j;
	q = cmk_locked_realloc(q, 5000);
	CHECK(q != NULL);
	q = cmk_locked_realloc(q, 200000);
	CHECK(q != NULL && cmk_locked_owns(q));
	for (size_t j = 0; j < 48; j++)
		CHECK_EQ_INT(q[j], (int)j);
	cmk_locked_free(q);
	CHECK(!cmk_locked_owns(&on_stack));
	p = malloc(32);
	CHECK(!cmk_locked_owns(p));
	free(p);
	p = (uint8_t *)cmk_locked_strdup("secret");
	CHECK(p && !strcmp((char *)p, "secret"));
	cmk_locked_free(p);

	cmk_locked_stats(&locked, &in_use);
	CHECK(locked >= (1u << 20));
	CHECK(in_use <= locked);
	f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f))
		/* NOLINTNEXTLINE(cert-err34-c): the kernel writes the number */
		sscanf(line, "VmLck: %zu kB", &vmlck);
	if (f)
		fclose(f);
	CHECK(vmlck * 1024 >= locked); /* mlock went through, even under ASan */
	cmk_burn_stack();
}

int main(void)
{
	CHECK(cmk_crypto_init(NULL) == 0);
	locked_heap();
	hkdf_rfc5869_case1();
	hkdf_rfc5869_case3();
	xts_ieee1619_vector10();
	gcm_nist_case16();
	hmac_rfc4231_case2();
	scrypt_rfc7914();
	base64();
	secure_memory();
	return check_exit();
}
