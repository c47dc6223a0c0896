/* SPDX-License-Identifier: MIT */
/* Name and symlink-target encryption: AES-256-SIV and strict base64url.
 * Layouts mirror docs/FORMAT.md "Encrypted names". */
#include "crypto/names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPECIAL_PREFIX "cmkfs."

/* Domain tags: the first bytes of the associated data, so that a name can
 * never be passed off as a symlink target or the reverse. */
static const char aad_name_tag[4] = { 'n', 'a', 'm', 'e' };
static const char aad_symlink_tag[7] = { 's', 'y', 'm', 'l', 'i', 'n', 'k' };
#define NAME_AAD_LEN (sizeof(aad_name_tag) + CMK_DIRID_LEN)
#define SYMLINK_AAD_LEN \
	(sizeof(aad_symlink_tag) + CMK_ID_LEN + CMK_SYMLINK_NONCE_LEN)

static const char info_siv[] = "cmkfs v1 name siv key";

/* Raw (decoded) sizes. */
#define NAME_RAW_MAX (CMK_SIV_TAG_LEN + CMK_NAME_PLAIN_MAX)
#define SYMLINK_HEAD (CMK_SYMLINK_NONCE_LEN + CMK_SIV_TAG_LEN)
#define SYMLINK_RAW_MAX (SYMLINK_HEAD + CMK_SYMLINK_PLAIN_MAX)

struct cmk_names {
	struct cmk_siv *siv;
	uint8_t volume_id[CMK_ID_LEN];
};

/* --- base64url (RFC 4648 section 5, no padding) ------------------------- */
static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Characters for len bytes: ceil(8 * len / 6). */
static size_t b64url_len(size_t len)
{
	return (4 * len + 2) / 3;
}

/* Writes b64url_len(len) characters and a NUL. */
static void b64url_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | in[i + 1] << 8 | in[i + 2];

		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (len - i == 1) {
		out[o++] = b64url[in[i] >> 2];
		out[o++] = b64url[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = b64url[v >> 10];
		out[o++] = b64url[(v >> 4) & 63];
		out[o++] = b64url[(v & 15) << 2];
	}
	out[o] = '\0';
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strict decoding: the alphabet only (no '=', no white space), a length
 * that some byte string has, and zero in the unused low bits of the last
 * character, so that every byte string has exactly one encoding (a name
 * must not have two backing names). Returns the decoded length or
 * -EBADMSG; out must hold len * 3 / 4 bytes. */
static int b64url_decode(const char *in, size_t len, uint8_t *out)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -EBADMSG;
	for (i = 0; i < len; i++) {
		int v = b64url_value(in[i]);

		if (v < 0)
			return -EBADMSG;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Left-over bits (2 or 4) must be zero. */
	if (acc & ((1u << bits) - 1))
		return -EBADMSG;
	return (int)o;
}

/* --- the cipher ----------------------------------------------------------- */
int cmk_names_new(const uint8_t name_key[CMK_KEY_LEN],
		  const uint8_t volume_id[CMK_ID_LEN], struct cmk_names **out)
{
	struct cmk_names *names;
	uint8_t *key;
	int ret;

	names = calloc(1, sizeof(*names));
	key = cmk_secure_alloc(CMK_SIV_KEY_LEN);
	if (!names || !key) {
		ret = -ENOMEM;
		goto fail;
	}
	memcpy(names->volume_id, volume_id, CMK_ID_LEN);
	ret = cmk_hkdf_sha256(name_key, CMK_KEY_LEN, volume_id, CMK_ID_LEN,
			      info_siv, key, CMK_SIV_KEY_LEN);
	if (ret == 0)
		ret = cmk_siv_new(key, &names->siv);
	if (ret)
		goto fail;
	cmk_secure_free(key, CMK_SIV_KEY_LEN);
	*out = names;
	return 0;
fail:
	cmk_secure_free(key, CMK_SIV_KEY_LEN);
	free(names);
	return ret;
}

void cmk_names_free(struct cmk_names *names)
{
	if (!names)
		return;
	cmk_siv_free(names->siv);
	free(names);
}

/* --- names ---------------------------------------------------------------- */
bool cmk_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > CMK_NAME_PLAIN_MAX)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return !memchr(name, '/', len) && !memchr(name, '\0', len);
}

static void name_aad(const uint8_t dirid[CMK_DIRID_LEN],
		     uint8_t aad[NAME_AAD_LEN])
{
	memcpy(aad, aad_name_tag, sizeof(aad_name_tag));
	memcpy(aad + sizeof(aad_name_tag), dirid, CMK_DIRID_LEN);
}

int cmk_name_encrypt(struct cmk_names *names,
		     const uint8_t dirid[CMK_DIRID_LEN], const char *name,
		     size_t len, char *out, size_t out_size)
{
	uint8_t raw[NAME_RAW_MAX], aad[NAME_AAD_LEN];
	size_t enc_len;
	int ret;

	if (len > CMK_NAME_PLAIN_MAX)
		return -ENAMETOOLONG;
	if (!cmk_name_valid(name, len))
		return -EINVAL;
	enc_len = b64url_len(CMK_SIV_TAG_LEN + len);
	if (out_size < enc_len + 1)
		return -ENAMETOOLONG;
	name_aad(dirid, aad);
	ret = cmk_siv_encrypt(names->siv, aad, sizeof(aad),
			      (const uint8_t *)name, len, raw);
	if (ret)
		return ret;
	b64url_encode(raw, CMK_SIV_TAG_LEN + len, out);
	return (int)enc_len;
}

int cmk_name_decrypt(struct cmk_names *names,
		     const uint8_t dirid[CMK_DIRID_LEN], const char *enc,
		     size_t enc_len, char *out, size_t out_size)
{
	uint8_t raw[NAME_RAW_MAX], aad[NAME_AAD_LEN];
	char plain[CMK_NAME_PLAIN_MAX];
	size_t plain_len;
	int n, ret;

	if (enc_len < CMK_NAME_ENC_MIN || enc_len > CMK_NAME_ENC_MAX)
		return -EBADMSG;
	n = b64url_decode(enc, enc_len, raw);
	if (n < 0)
		return n;
	plain_len = (size_t)n - CMK_SIV_TAG_LEN;
	if (out_size < plain_len + 1)
		return -ENAMETOOLONG;
	name_aad(dirid, aad);
	ret = cmk_siv_decrypt(names->siv, aad, sizeof(aad), raw, (size_t)n,
			      (uint8_t *)plain);
	if (ret)
		return ret;
	/* Authentic but not a name: only a writer holding the key makes
	 * these, and none of ours does; refuse them like a forgery. */
	if (!cmk_name_valid(plain, plain_len))
		return -EBADMSG;
	memcpy(out, plain, plain_len);
	out[plain_len] = '\0';
	return (int)plain_len;
}

/* --- long names ----------------------------------------------------------- */
int cmk_name_long_backing(const char *enc, size_t enc_len,
			  char out[CMK_LONG_LEN + 1])
{
	static const size_t prefix_len = sizeof(CMK_LONG_PREFIX) - 1;
	uint8_t sum[CMK_SHA256_LEN];
	int ret;

	if (enc_len <= CMK_NAME_BACKING_MAX)
		return -EINVAL;
	ret = cmk_sha256(enc, enc_len, sum);
	if (ret)
		return ret;
	memcpy(out, CMK_LONG_PREFIX, prefix_len);
	b64url_encode(sum, sizeof(sum), out + prefix_len);
	return CMK_LONG_LEN;
}

bool cmk_name_is_long(const char *backing)
{
	static const size_t prefix_len = sizeof(CMK_LONG_PREFIX) - 1;
	uint8_t sum[CMK_SHA256_LEN + 1];

	return strlen(backing) == CMK_LONG_LEN &&
	       memcmp(backing, CMK_LONG_PREFIX, prefix_len) == 0 &&
	       b64url_decode(backing + prefix_len, CMK_LONG_LEN - prefix_len,
			     sum) == CMK_SHA256_LEN;
}

int cmk_name_long_check(const char *backing, const char *enc, size_t enc_len)
{
	char want[CMK_LONG_LEN + 1];

	/* The long form is the only one of an encoding longer than
	 * NAME_MAX, and never used for a shorter one. */
	if (enc_len <= CMK_NAME_BACKING_MAX || enc_len > CMK_NAME_ENC_MAX ||
	    cmk_name_long_backing(enc, enc_len, want) != CMK_LONG_LEN ||
	    strcmp(backing, want) != 0)
		return -EBADMSG;
	return 0;
}

int cmk_name_to_backing(struct cmk_names *names,
			const uint8_t dirid[CMK_DIRID_LEN], const char *name,
			size_t len, struct cmk_backing_name *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = cmk_name_encrypt(names, dirid, name, len, out->enc,
			       sizeof(out->enc));
	if (ret < 0)
		return ret;
	out->enc_len = (size_t)ret;
	if (out->enc_len <= CMK_NAME_BACKING_MAX) {
		memcpy(out->name, out->enc, out->enc_len + 1);
		out->len = out->enc_len;
		return 0;
	}
	ret = cmk_name_long_backing(out->enc, out->enc_len, out->name);
	if (ret < 0)
		return ret;
	out->len = CMK_LONG_LEN;
	out->is_long = true;
	memcpy(out->side, out->name, CMK_LONG_LEN);
	memcpy(out->side + CMK_LONG_LEN, CMK_LONG_SUFFIX,
	       sizeof(CMK_LONG_SUFFIX));
	return 0;
}

bool cmk_name_is_special(const char *backing)
{
	return strncmp(backing, SPECIAL_PREFIX, strlen(SPECIAL_PREFIX)) == 0 &&
	       !cmk_name_is_long(backing);
}

/* --- symlink targets ------------------------------------------------------ */
static void symlink_aad(const struct cmk_names *names, const uint8_t *nonce,
			uint8_t aad[SYMLINK_AAD_LEN])
{
	size_t off = sizeof(aad_symlink_tag);

	memcpy(aad, aad_symlink_tag, off);
	memcpy(aad + off, names->volume_id, CMK_ID_LEN);
	memcpy(aad + off + CMK_ID_LEN, nonce, CMK_SYMLINK_NONCE_LEN);
}

int cmk_symlink_plain_len(size_t enc_len)
{
	size_t raw;

	if (enc_len < CMK_SYMLINK_ENC_MIN || enc_len > CMK_SYMLINK_ENC_MAX ||
	    enc_len % 4 == 1)
		return -EBADMSG;
	raw = enc_len * 3 / 4;
	return (int)(raw - SYMLINK_HEAD);
}

int cmk_symlink_marker(const char *enc, size_t enc_len,
		       char out[CMK_SYMLINK_MARKER_LEN + 1])
{
	static const size_t prefix_len = sizeof(CMK_SYMLINK_MARKER_PREFIX) - 1;
	uint8_t sum[CMK_SHA256_LEN];
	int plain_len = cmk_symlink_plain_len(enc_len), ret;

	if (enc_len <= CMK_SYMLINK_INLINE_MAX || plain_len < 0)
		return -EINVAL;
	ret = cmk_sha256(enc, enc_len, sum);
	if (ret)
		return ret;
	snprintf(out, prefix_len + 6, "%s%04d.", CMK_SYMLINK_MARKER_PREFIX,
		 plain_len);
	b64url_encode(sum, sizeof(sum), out + prefix_len + 5);
	return CMK_SYMLINK_MARKER_LEN;
}

int cmk_symlink_marker_plain_len(const char *marker, size_t len)
{
	static const size_t prefix_len = sizeof(CMK_SYMLINK_MARKER_PREFIX) - 1;
	uint8_t sum[CMK_SHA256_LEN + 1];
	int plain_len = 0;

	if (len != CMK_SYMLINK_MARKER_LEN ||
	    memcmp(marker, CMK_SYMLINK_MARKER_PREFIX, prefix_len) != 0 ||
	    marker[prefix_len + 4] != '.')
		return -EBADMSG;
	for (size_t i = prefix_len; i < prefix_len + 4; i++) {
		if (marker[i] < '0' || marker[i] > '9')
			return -EBADMSG;
		plain_len = plain_len * 10 + (marker[i] - '0');
	}
	if (plain_len <= CMK_SYMLINK_INLINE_PLAIN ||
	    plain_len > CMK_SYMLINK_PLAIN_MAX ||
	    b64url_decode(marker + prefix_len + 5, len - prefix_len - 5, sum) !=
		    CMK_SHA256_LEN)
		return -EBADMSG;
	return plain_len;
}

int cmk_symlink_marker_check(const char *marker, const char *enc,
			     size_t enc_len)
{
	char want[CMK_SYMLINK_MARKER_LEN + 1];

	/* The side form is the only one of an encoding too long to be a
	 * target, and never used for a shorter one. */
	if (enc_len <= CMK_SYMLINK_INLINE_MAX ||
	    enc_len > CMK_SYMLINK_ENC_MAX ||
	    cmk_symlink_marker(enc, enc_len, want) != CMK_SYMLINK_MARKER_LEN ||
	    memcmp(marker, want, CMK_SYMLINK_MARKER_LEN) != 0)
		return -EBADMSG;
	return 0;
}

int cmk_symlink_encrypt(struct cmk_names *names, const char *target, size_t len,
			const uint8_t *nonce, char *out, size_t out_size)
{
	uint8_t *raw, aad[SYMLINK_AAD_LEN];
	size_t enc_len;
	int ret;

	if (len == 0 || memchr(target, '\0', len))
		return -EINVAL;
	if (len > CMK_SYMLINK_PLAIN_MAX)
		return -ENAMETOOLONG;
	enc_len = b64url_len(SYMLINK_HEAD + len);
	if (out_size < enc_len + 1)
		return -ENAMETOOLONG;
	raw = malloc(SYMLINK_HEAD + len);
	if (!raw)
		return -ENOMEM;
	/* The nonce makes equal targets look different; without it SIV
	 * would show which symlinks point to the same place. */
	if (nonce)
		memcpy(raw, nonce, CMK_SYMLINK_NONCE_LEN);
	else
		cmk_random(raw, CMK_SYMLINK_NONCE_LEN);
	symlink_aad(names, raw, aad);
	ret = cmk_siv_encrypt(names->siv, aad, sizeof(aad),
			      (const uint8_t *)target, len,
			      raw + CMK_SYMLINK_NONCE_LEN);
	if (ret == 0) {
		b64url_encode(raw, SYMLINK_HEAD + len, out);
		ret = (int)enc_len;
	}
	free(raw);
	return ret;
}

int cmk_symlink_decrypt(struct cmk_names *names, const char *enc,
			size_t enc_len, char *out, size_t out_size)
{
	uint8_t *raw, aad[SYMLINK_AAD_LEN];
	size_t plain_len;
	int n, ret;

	n = cmk_symlink_plain_len(enc_len);
	if (n < 0)
		return n;
	plain_len = (size_t)n;
	if (out_size < plain_len + 1)
		return -ENAMETOOLONG;
	raw = malloc(enc_len * 3 / 4);
	if (!raw)
		return -ENOMEM;
	n = b64url_decode(enc, enc_len, raw);
	if (n < 0) {
		ret = n;
		goto out;
	}
	symlink_aad(names, raw, aad);
	ret = cmk_siv_decrypt(names->siv, aad, sizeof(aad),
			      raw + CMK_SYMLINK_NONCE_LEN,
			      (size_t)n - CMK_SYMLINK_NONCE_LEN,
			      (uint8_t *)out);
	if (ret)
		goto out;
	if (memchr(out, '\0', plain_len)) {
		cmk_cleanse(out, plain_len);
		ret = -EBADMSG;
		goto out;
	}
	out[plain_len] = '\0';
	ret = (int)plain_len;
out:
	free(raw);
	return ret;
}

/* --- extended attributes -------------------------------------------------- */
static const char aad_xname_tag[10] = { 'x', 'a', 't', 't', 'r',
					'-', 'n', 'a', 'm', 'e' };
static const char aad_xvalue_tag[11] = { 'x', 'a', 't', 't', 'r', '-',
					 'v', 'a', 'l', 'u', 'e' };
#define XNAME_AAD_LEN (sizeof(aad_xname_tag) + CMK_XATTR_BIND_LEN)
#define XNAME_RAW_MAX (CMK_SIV_TAG_LEN + CMK_XATTR_NAME_PLAIN_MAX)
#define XVALUE_AAD_MAX                                                       \
	(sizeof(aad_xvalue_tag) + CMK_XATTR_BIND_LEN + CMK_XATTR_NONCE_LEN + \
	 CMK_XATTR_NAME_MAX)
/* The first plaintext byte of a value: a version, and what makes an empty
 * value one byte that SIV can take. */
#define XVALUE_MARK 0x01

bool cmk_xattr_is_user(const char *name)
{
	return strncmp(name, CMK_XATTR_PREFIX, CMK_XATTR_PREFIX_LEN) == 0 &&
	       name[CMK_XATTR_PREFIX_LEN] != '\0';
}

static void xname_aad(const uint8_t bind[CMK_XATTR_BIND_LEN],
		      uint8_t aad[XNAME_AAD_LEN])
{
	memcpy(aad, aad_xname_tag, sizeof(aad_xname_tag));
	memcpy(aad + sizeof(aad_xname_tag), bind, CMK_XATTR_BIND_LEN);
}

int cmk_xattr_name_encrypt(struct cmk_names *names,
			   const uint8_t bind[CMK_XATTR_BIND_LEN],
			   const char *name, char *out, size_t out_size)
{
	uint8_t raw[XNAME_RAW_MAX], aad[XNAME_AAD_LEN];
	size_t len, enc_len;
	int ret;

	if (strncmp(name, CMK_XATTR_PREFIX, CMK_XATTR_PREFIX_LEN) != 0)
		return -EOPNOTSUPP;
	name += CMK_XATTR_PREFIX_LEN;
	len = strlen(name);
	if (len == 0)
		return -EINVAL;
	if (len > CMK_XATTR_NAME_PLAIN_MAX)
		return -ERANGE;
	enc_len = CMK_XATTR_PREFIX_LEN + b64url_len(CMK_SIV_TAG_LEN + len);
	if (out_size < enc_len + 1)
		return -ERANGE;
	xname_aad(bind, aad);
	ret = cmk_siv_encrypt(names->siv, aad, sizeof(aad),
			      (const uint8_t *)name, len, raw);
	if (ret)
		return ret;
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): b64url_encode ends the string */
	memcpy(out, CMK_XATTR_PREFIX, CMK_XATTR_PREFIX_LEN);
	b64url_encode(raw, CMK_SIV_TAG_LEN + len, out + CMK_XATTR_PREFIX_LEN);
	return (int)enc_len;
}

int cmk_xattr_name_decrypt(struct cmk_names *names,
			   const uint8_t bind[CMK_XATTR_BIND_LEN],
			   const char *backing, char *out, size_t out_size)
{
	uint8_t raw[XNAME_RAW_MAX + 3], aad[XNAME_AAD_LEN];
	char plain[CMK_XATTR_NAME_PLAIN_MAX];
	size_t enc_len = strlen(backing), plain_len;
	int n, ret;

	if (enc_len < CMK_XATTR_NAME_ENC_MIN ||
	    enc_len > CMK_XATTR_NAME_ENC_MAX ||
	    strncmp(backing, CMK_XATTR_PREFIX, CMK_XATTR_PREFIX_LEN) != 0)
		return -EBADMSG;
	n = b64url_decode(backing + CMK_XATTR_PREFIX_LEN,
			  enc_len - CMK_XATTR_PREFIX_LEN, raw);
	if (n < 0)
		return n;
	if ((size_t)n <= CMK_SIV_TAG_LEN || (size_t)n > XNAME_RAW_MAX)
		return -EBADMSG;
	plain_len = (size_t)n - CMK_SIV_TAG_LEN;
	if (out_size < CMK_XATTR_PREFIX_LEN + plain_len + 1)
		return -ERANGE;
	xname_aad(bind, aad);
	ret = cmk_siv_decrypt(names->siv, aad, sizeof(aad), raw, (size_t)n,
			      (uint8_t *)plain);
	if (ret)
		return ret;
	/* Authentic but no name: only a writer holding the key makes it. */
	if (memchr(plain, '\0', plain_len))
		return -EBADMSG;
	memcpy(out, CMK_XATTR_PREFIX, CMK_XATTR_PREFIX_LEN);
	memcpy(out + CMK_XATTR_PREFIX_LEN, plain, plain_len);
	out[CMK_XATTR_PREFIX_LEN + plain_len] = '\0';
	return (int)(CMK_XATTR_PREFIX_LEN + plain_len);
}

/* The value's associated data into aad (XVALUE_AAD_MAX bytes); its
 * length, or -EINVAL for a name that is too long to be one. */
static int xvalue_aad(const uint8_t bind[CMK_XATTR_BIND_LEN],
		      const uint8_t nonce[CMK_XATTR_NONCE_LEN],
		      const char *name, uint8_t *aad)
{
	size_t off = sizeof(aad_xvalue_tag), len = strlen(name);

	if (len > CMK_XATTR_NAME_MAX)
		return -EINVAL;
	memcpy(aad, aad_xvalue_tag, off);
	memcpy(aad + off, bind, CMK_XATTR_BIND_LEN);
	off += CMK_XATTR_BIND_LEN;
	memcpy(aad + off, nonce, CMK_XATTR_NONCE_LEN);
	off += CMK_XATTR_NONCE_LEN;
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): associated data, not a string */
	memcpy(aad + off, name, len);
	return (int)(off + len);
}

int cmk_xattr_value_plain_len(size_t enc_len)
{
	if (enc_len < CMK_XATTR_OVERHEAD ||
	    enc_len > CMK_XATTR_VALUE_MAX + CMK_XATTR_OVERHEAD)
		return -EBADMSG;
	return (int)(enc_len - CMK_XATTR_OVERHEAD);
}

int cmk_xattr_value_encrypt(struct cmk_names *names,
			    const uint8_t bind[CMK_XATTR_BIND_LEN],
			    const char *name, const void *value, size_t len,
			    const uint8_t *nonce, uint8_t *out, size_t out_size)
{
	uint8_t aad[XVALUE_AAD_MAX], *plain;
	int aad_len, ret;

	if (len > CMK_XATTR_VALUE_MAX)
		return -E2BIG;
	if (out_size < len + CMK_XATTR_OVERHEAD)
		return -ERANGE;
	/* A random nonce: equal values (of one name on one object, too)
	 * must not look equal. */
	if (nonce)
		memcpy(out, nonce, CMK_XATTR_NONCE_LEN);
	else
		cmk_random(out, CMK_XATTR_NONCE_LEN);
	aad_len = xvalue_aad(bind, out, name, aad);
	if (aad_len < 0)
		return aad_len;
	plain = malloc(len + 1);
	if (!plain)
		return -ENOMEM;
	plain[0] = XVALUE_MARK;
	if (len)
		memcpy(plain + 1, value, len);
	ret = cmk_siv_encrypt(names->siv, aad, (size_t)aad_len, plain, len + 1,
			      out + CMK_XATTR_NONCE_LEN);
	cmk_cleanse(plain, len + 1);
	free(plain);
	return ret ? ret : (int)(len + CMK_XATTR_OVERHEAD);
}

int cmk_xattr_value_decrypt(struct cmk_names *names,
			    const uint8_t bind[CMK_XATTR_BIND_LEN],
			    const char *name, const uint8_t *enc,
			    size_t enc_len, void *out, size_t out_size)
{
	uint8_t aad[XVALUE_AAD_MAX], *plain;
	int len = cmk_xattr_value_plain_len(enc_len), aad_len, ret;

	if (len < 0)
		return len;
	if (out_size < (size_t)len)
		return -ERANGE;
	aad_len = xvalue_aad(bind, enc, name, aad);
	if (aad_len < 0)
		return -EBADMSG;
	plain = malloc((size_t)len + 1);
	if (!plain)
		return -ENOMEM;
	ret = cmk_siv_decrypt(names->siv, aad, (size_t)aad_len,
			      enc + CMK_XATTR_NONCE_LEN,
			      enc_len - CMK_XATTR_NONCE_LEN, plain);
	if (ret == 0 && plain[0] != XVALUE_MARK)
		ret = -EBADMSG;
	if (ret == 0 && len)
		memcpy(out, plain + 1, (size_t)len);
	cmk_cleanse(plain, (size_t)len + 1);
	free(plain);
	return ret ? ret : len;
}
