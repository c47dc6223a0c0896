/* SPDX-License-Identifier: MIT */
/* The local keystore (provider = file): a JSON file that holds the versions
 * of one CMK, each 32 random bytes, optionally sealed under a passphrase.
 *
 * {"format":"cmkfs-keystore","format_version":1,"key_name":"cmk",
 *  "seal":null | {"kdf":"scrypt","n":32768,"r":8,"p":1,"salt":"<b64 16>"},
 *  "versions":[{"id":"1","enabled":true,"created":1764325000,
 *               "key":"<b64>"}, ...]}
 *
 * Unsealed, "key" is the base64 of the 32-byte key. Sealed, it is the base64
 * of nonce (12) || AES-256-GCM ciphertext (32) || tag (16) under
 * scrypt(passphrase, salt, n, r, p), with the AAD
 * "cmkfs-keystore v1" NUL key_name NUL id.
 *
 * Readers take no lock: writers replace the file with rename(), so a reader
 * sees the old or the new keystore, whole. Writers serialise on an flock of
 * KEYSTORE.lock. Every read re-reads the file, so that a version disabled
 * with `cmkfs key disable` is refused from then on. */
#include "kms/keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "crypto/crypto.h"
#include "kms/keystore_internal.h"
#include "kms/provider.h"

#define KS_FORMAT "cmkfs-keystore"
#define KS_FORMAT_VERSION 1
#define KS_AAD_PREFIX "cmkfs-keystore v1" /* the AAD holds its NUL */
#define KS_SALT_LEN 16
#define KS_SEALED_LEN (CMK_GCM_NONCE_LEN + CMK_KEY_LEN + CMK_GCM_TAG_LEN)
#define KS_B64_MAX 128 /* longest key string decoded: a sealed key is 80 */
#define KS_B64_BUF (4 * ((KS_SEALED_LEN + 2) / 3) + 1)
#define KS_ID_DIGITS_MAX 18 /* ids stay well inside uint64_t */
#define KS_SCRYPT_R 8
#define KS_SCRYPT_P 1
#define KS_PASS_MAX CMK_KEYSTORE_PASS_MAX /* longest passphrase, bytes */
#define KS_JSON_FLAGS (JSON_INDENT(2))

struct ks_seal {
	uint64_t n;
	uint32_t r;
	uint32_t p;
	uint8_t salt[KS_SALT_LEN];
};

struct ks_version {
	char id[CMK_KMS_VERSION_MAX + 1];
	uint64_t num;
	bool enabled;
	int64_t created;
	json_t *obj;	 /* borrowed from the document */
	const char *key; /* base64; borrowed */
	size_t key_len;
};

/* A keystore read and checked. v is sorted newest first. */
struct ks_doc {
	json_t *root;
	bool sealed;
	struct ks_seal seal;
	struct ks_version *v;
	size_t count;
};

/* The key derived from the passphrase, with the parameters it was derived
 * for: a mount asks for (or reads) the passphrase once, not per fetch. */
struct ks_sealkey {
	bool valid;
	struct ks_seal seal;
	uint8_t *key; /* CMK_KEY_LEN bytes of locked memory */
};

struct ks_state {
	pthread_mutex_t lock; /* guards sk: fetches may come from threads */
	struct cmk_conf conf;
	struct ks_sealkey sk;
};

static uint64_t create_scrypt_n = CMK_KEYSTORE_SCRYPT_N_DEFAULT;

/* --- small helpers ------------------------------------------------------- */

static bool wants_seal(const struct cmk_conf *conf)
{
	return conf->file.passphrase_file[0] || conf->file.passphrase_prompt;
}

static bool seal_params_ok(uint64_t n, uint64_t r, uint64_t p)
{
	if (n < CMK_KEYSTORE_SCRYPT_N_MIN || n > CMK_KEYSTORE_SCRYPT_N_MAX ||
	    (n & (n - 1)) != 0)
		return false;
	if (r < 1 || r > CMK_KEYSTORE_SCRYPT_R_MAX || p < 1 ||
	    p > CMK_KEYSTORE_SCRYPT_P_MAX)
		return false;
	return 128 * n * r <= CMK_KEYSTORE_SCRYPT_MEM_MAX;
}

int cmk_keystore_set_create_scrypt_n(uint64_t n)
{
	if (!seal_params_ok(n, KS_SCRYPT_R, KS_SCRYPT_P))
		return -EINVAL;
	create_scrypt_n = n;
	return 0;
}

/* Printable ASCII only: safe to quote in a message. */
static bool printable(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= max || s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return i > 0;
}

static int check_conf(const struct cmk_conf *conf, struct cmk_err *err)
{
	if (!conf->file.keystore[0])
		return cmk_err_set(err, -EINVAL, "%s: no keystore path",
				   conf->path);
	if (!printable(conf->file.key_name, CMK_KEY_NAME_MAX))
		return cmk_err_set(err, -EINVAL, "%s: bad key_name",
				   conf->path);
	return 0;
}

/* Decodes base64 that must hold exactly len bytes; out is cleansed when
 * it does not. */
static bool decode_exact(const char *b64, size_t b64_len, uint8_t *out,
			 size_t len)
{
	size_t got = 0;

	if (b64_len > KS_B64_MAX)
		return false;
	if (cmk_base64_decode(b64, b64_len, out, len, &got) == 0 && got == len)
		return true;
	cmk_cleanse(out, len);
	return false;
}

static size_t build_aad(uint8_t *aad, const char *key_name, const char *id)
{
	size_t name_len = strlen(key_name), id_len = strlen(id);
	size_t off = sizeof(KS_AAD_PREFIX);

	memcpy(aad, KS_AAD_PREFIX, off);
	memcpy(aad + off, key_name, name_len + 1);
	off += name_len + 1;
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): no trailing NUL */
	memcpy(aad + off, id, id_len);
	return off + id_len;
}

#define KS_AAD_MAX \
	(sizeof(KS_AAD_PREFIX) + CMK_KEY_NAME_MAX + 1 + CMK_KMS_VERSION_MAX)

/* --- the passphrase ------------------------------------------------------ */

static cmk_keystore_prompt_fn prompt_fn;

void cmk_keystore_set_prompt(cmk_keystore_prompt_fn fn)
{
	prompt_fn = fn;
}

/* The passphrase the config names, in locked memory of KS_PASS_MAX bytes
 * (free with cmk_secure_free(*pass, KS_PASS_MAX)). */
static int get_passphrase(const struct cmk_conf *conf, bool confirm,
			  uint8_t **pass_out, size_t *len_out,
			  struct cmk_err *err)
{
	const char *file = conf->file.passphrase_file;
	uint8_t *pass, *buf = NULL;
	size_t cap = 0, len = 0;
	int ret;

	pass = cmk_secure_alloc(KS_PASS_MAX);
	if (!pass)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	if (!file[0]) {
		/* passphrase_prompt: the program that runs us asks. */
		ret = prompt_fn ? prompt_fn(conf->file.keystore, confirm, pass,
					    KS_PASS_MAX, &len, err)
				: cmk_err_set(err, -ENXIO,
					      "%s: passphrase_prompt: this "
					      "program cannot ask",
					      conf->file.keystore);
		goto out;
	}
	ret = cmk_kms_read_secret_bytes(file, "passphrase file",
					KS_PASS_MAX + 1, &buf, &cap, &len, err);
	if (ret)
		goto out;
	if (len && buf[len - 1] == '\n')
		len--;
	if (len == 0) {
		ret = cmk_err_set(err, -EINVAL, "%s: empty passphrase file",
				  file);
		goto out;
	}
	if (len > KS_PASS_MAX) {
		ret = cmk_err_set(err, -EINVAL,
				  "%s: passphrase longer than %d bytes", file,
				  KS_PASS_MAX);
		goto out;
	}
	memcpy(pass, buf, len);
out:
	cmk_secure_free(buf, cap);
	if (ret) {
		cmk_secure_free(pass, KS_PASS_MAX);
		return ret;
	}
	*pass_out = pass;
	*len_out = len;
	return 0;
}

static void sealkey_clear(struct ks_sealkey *sk)
{
	cmk_secure_free(sk->key, CMK_KEY_LEN);
	sk->key = NULL;
	sk->valid = false;
}

/* Makes sk hold the key for seal: derived from pass, or when pass is NULL
 * from the passphrase the config names; kept when sk has it already. */
static int sealkey_get(struct ks_sealkey *sk, const struct cmk_conf *conf,
		       const uint8_t *pass, size_t pass_len,
		       const struct ks_seal *seal, struct cmk_err *err)
{
	uint8_t *own = NULL;
	size_t own_len = 0;
	int ret;

	if (sk->valid && memcmp(&sk->seal, seal, sizeof(*seal)) == 0)
		return 0;
	sk->valid = false;
	if (!sk->key) {
		sk->key = cmk_secure_alloc(CMK_KEY_LEN);
		if (!sk->key)
			return cmk_err_set(err, -ENOMEM,
					   "out of locked memory");
	}
	if (!pass) {
		ret = get_passphrase(conf, false, &own, &own_len, err);
		if (ret)
			return ret;
		pass = own;
		pass_len = own_len;
	}
	ret = cmk_scrypt(pass, pass_len, seal->salt, KS_SALT_LEN, seal->n,
			 seal->r, seal->p, sk->key, CMK_KEY_LEN);
	if (ret) {
		cmk_err_set(err, ret, "%s: scrypt failed", conf->file.keystore);
		goto out;
	}
	sk->seal = *seal;
	sk->valid = true;
out:
	cmk_secure_free(own, KS_PASS_MAX);
	return ret;
}

/* --- reading and checking a keystore ------------------------------------ */

static void doc_free(struct ks_doc *doc)
{
	json_decref(doc->root);
	free(doc->v);
	memset(doc, 0, sizeof(*doc));
}

static const char *json_problem(enum json_error_code code)
{
	switch (code) {
	case json_error_out_of_memory:
		return "out of memory";
	case json_error_stack_overflow:
		return "nested too deeply";
	case json_error_invalid_utf8:
		return "invalid UTF-8";
	case json_error_premature_end_of_input:
		return "unexpected end";
	case json_error_end_of_input_expected:
		return "text after the end";
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return "NUL character";
	case json_error_duplicate_key:
		return "duplicate member";
	case json_error_numeric_overflow:
		return "number out of range";
	default:
		return "syntax error";
	}
}

/* Refuses members other than names[], and missing ones. A member's name is
 * quoted only when it looks like a name and not like a key. */
static int check_members(json_t *obj, const char *const *names,
			 const char *path, const char *where,
			 struct cmk_err *err)
{
	const char *name;
	json_t *value;
	size_t i;

	json_object_foreach (obj, name, value) {
		for (i = 0; names[i]; i++)
			if (!strcmp(name, names[i]))
				break;
		if (names[i])
			continue;
		if (strlen(name) <= 32 &&
		    strspn(name, "abcdefghijklmnopqrstuvwxyz_") == strlen(name))
			return cmk_err_set(err, -EINVAL,
					   "%s: %sunknown member \"%s\"", path,
					   where, name);
		return cmk_err_set(err, -EINVAL, "%s: %san unknown member",
				   path, where);
	}
	for (i = 0; names[i]; i++)
		if (!json_object_get(obj, names[i]))
			return cmk_err_set(err, -EINVAL,
					   "%s: %smissing member \"%s\"", path,
					   where, names[i]);
	return 0;
}

static int parse_seal(json_t *seal, struct ks_seal *out, const char *path,
		      struct cmk_err *err)
{
	static const char *const members[] = { "kdf", "n",    "r",
					       "p",   "salt", NULL };
	json_t *kdf, *n, *r, *p, *salt;
	int ret;

	if (!json_is_object(seal))
		return cmk_err_set(err, -EINVAL,
				   "%s: seal is neither null nor an object",
				   path);
	ret = check_members(seal, members, path, "seal: ", err);
	if (ret)
		return ret;
	kdf = json_object_get(seal, "kdf");
	n = json_object_get(seal, "n");
	r = json_object_get(seal, "r");
	p = json_object_get(seal, "p");
	salt = json_object_get(seal, "salt");
	if (!json_is_string(kdf) ||
	    strcmp(json_string_value(kdf), "scrypt") != 0)
		return cmk_err_set(err, -EINVAL,
				   "%s: seal: kdf is not \"scrypt\"", path);
	if (!json_is_integer(n) || !json_is_integer(r) || !json_is_integer(p))
		return cmk_err_set(err, -EINVAL,
				   "%s: seal: n, r and p must be integers",
				   path);
	if (json_integer_value(n) < 0 || json_integer_value(r) < 0 ||
	    json_integer_value(p) < 0 ||
	    !seal_params_ok((uint64_t)json_integer_value(n),
			    (uint64_t)json_integer_value(r),
			    (uint64_t)json_integer_value(p)))
		return cmk_err_set(err, -EINVAL,
				   "%s: seal: scrypt parameters out of bounds "
				   "(n a power of two from 2^14 to 2^22, "
				   "r <= %u, p <= %u, 128*n*r <= %llu MiB)",
				   path, CMK_KEYSTORE_SCRYPT_R_MAX,
				   CMK_KEYSTORE_SCRYPT_P_MAX,
				   CMK_KEYSTORE_SCRYPT_MEM_MAX >> 20);
	if (!json_is_string(salt) ||
	    !decode_exact(json_string_value(salt), json_string_length(salt),
			  out->salt, KS_SALT_LEN))
		return cmk_err_set(err, -EINVAL,
				   "%s: seal: salt is not %d bytes of base64",
				   path, KS_SALT_LEN);
	out->n = (uint64_t)json_integer_value(n);
	out->r = (uint32_t)json_integer_value(r);
	out->p = (uint32_t)json_integer_value(p);
	return 0;
}

/* A version id of the local keystore: a decimal integer from 1. */
static bool parse_id(const char *s, uint64_t *num)
{
	size_t len = strlen(s);

	if (len == 0 || len > KS_ID_DIGITS_MAX || s[0] == '0' ||
	    strspn(s, "0123456789") != len)
		return false;
	*num = strtoull(s, NULL, 10);
	return true;
}

static int parse_version(json_t *obj, size_t index, const struct ks_doc *doc,
			 uint8_t *scratch, struct ks_version *v,
			 const char *path, struct cmk_err *err)
{
	static const char *const members[] = { "id", "enabled", "created",
					       "key", NULL };
	size_t want = doc->sealed ? KS_SEALED_LEN : CMK_KEY_LEN;
	json_t *id, *enabled, *created, *key;
	char where[64];
	int ret;

	snprintf(where, sizeof(where), "versions[%zu]: ", index);
	if (!json_is_object(obj))
		return cmk_err_set(err, -EINVAL, "%s: %snot an object", path,
				   where);
	ret = check_members(obj, members, path, where, err);
	if (ret)
		return ret;
	id = json_object_get(obj, "id");
	enabled = json_object_get(obj, "enabled");
	created = json_object_get(obj, "created");
	key = json_object_get(obj, "key");
	/* An id that is not a number is not quoted: it may be anything. */
	if (!json_is_string(id) || !parse_id(json_string_value(id), &v->num))
		return cmk_err_set(err, -EINVAL,
				   "%s: %sid is not a version number "
				   "(a decimal integer from 1, as a string)",
				   path, where);
	strcpy(v->id, json_string_value(id));
	if (!json_is_boolean(enabled))
		return cmk_err_set(err, -EINVAL,
				   "%s: version %s: enabled is not true or "
				   "false",
				   path, v->id);
	if (!json_is_integer(created) || json_integer_value(created) < 0)
		return cmk_err_set(err, -EINVAL,
				   "%s: version %s: created is not a time "
				   "(seconds since 1970)",
				   path, v->id);
	if (!json_is_string(key) ||
	    !decode_exact(json_string_value(key), json_string_length(key),
			  scratch, want)) {
		if (doc->sealed)
			return cmk_err_set(err, -EINVAL,
					   "%s: version %s: key is not a "
					   "sealed key (%d bytes of base64)",
					   path, v->id, KS_SEALED_LEN);
		return cmk_err_set(err, -EINVAL,
				   "%s: version %s: key is not %d bytes of "
				   "base64",
				   path, v->id, CMK_KEY_LEN);
	}
	cmk_cleanse(scratch, want);
	v->enabled = json_is_true(enabled);
	v->created = json_integer_value(created);
	v->obj = obj;
	v->key = json_string_value(key);
	v->key_len = json_string_length(key);
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct ks_version *va = a, *vb = b;

	return va->num < vb->num ? 1 : va->num > vb->num ? -1 : 0;
}

static int parse_versions(json_t *versions, struct ks_doc *doc,
			  const char *path, struct cmk_err *err)
{
	uint8_t *scratch;
	size_t i;
	int ret = 0;

	if (!json_is_array(versions))
		return cmk_err_set(err, -EINVAL, "%s: versions is not an array",
				   path);
	doc->count = json_array_size(versions);
	if (doc->count == 0)
		return cmk_err_set(err, -EINVAL, "%s: holds no versions", path);
	doc->v = calloc(doc->count, sizeof(*doc->v));
	scratch = cmk_secure_alloc(KS_SEALED_LEN);
	if (!doc->v || !scratch) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < doc->count; i++) {
		ret = parse_version(json_array_get(versions, i), i, doc,
				    scratch, &doc->v[i], path, err);
		if (ret)
			goto out;
	}
	qsort(doc->v, doc->count, sizeof(*doc->v), newest_first);
	for (i = 1; i < doc->count; i++)
		if (doc->v[i].num == doc->v[i - 1].num) {
			ret = cmk_err_set(err, -EINVAL,
					  "%s: version %s appears twice", path,
					  doc->v[i].id);
			goto out;
		}
out:
	cmk_secure_free(scratch, KS_SEALED_LEN);
	return ret;
}

static int parse_doc(const char *path, const char *key_name, const char *buf,
		     size_t len, struct ks_doc *doc, struct cmk_err *err)
{
	static const char *const members[] = { "format",   "format_version",
					       "key_name", "seal",
					       "versions", NULL };
	json_t *format, *fver, *name, *seal;
	json_error_t jerr;
	int ret;

	/* jerr.text may quote the text near the error, which may be a key:
	 * only the position and a fixed description get out. */
	doc->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc->root) {
		enum json_error_code code = json_error_code(&jerr);

		ret = cmk_err_set(
			err,
			code == json_error_out_of_memory ? -ENOMEM : -EINVAL,
			"%s: line %d, column %d: not valid JSON (%s)", path,
			jerr.line, jerr.column, json_problem(code));
		cmk_cleanse(&jerr, sizeof(jerr));
		return ret;
	}
	cmk_cleanse(&jerr, sizeof(jerr));
	if (!json_is_object(doc->root))
		return cmk_err_set(err, -EINVAL, "%s: not a cmkfs keystore",
				   path);
	format = json_object_get(doc->root, "format");
	if (!json_is_string(format) ||
	    strcmp(json_string_value(format), KS_FORMAT) != 0)
		return cmk_err_set(err, -EINVAL,
				   "%s: not a cmkfs keystore (format is not "
				   "\"%s\")",
				   path, KS_FORMAT);
	fver = json_object_get(doc->root, "format_version");
	if (!json_is_integer(fver) || json_integer_value(fver) < 1)
		return cmk_err_set(err, -EINVAL,
				   "%s: format_version is not a positive "
				   "integer",
				   path);
	if (json_integer_value(fver) != KS_FORMAT_VERSION)
		return cmk_err_set(
			err, -EPROTONOSUPPORT,
			"%s: keystore format version %" JSON_INTEGER_FORMAT
			" is not supported (this cmkfs reads %d)",
			path, json_integer_value(fver), KS_FORMAT_VERSION);
	ret = check_members(doc->root, members, path, "", err);
	if (ret)
		return ret;
	name = json_object_get(doc->root, "key_name");
	if (!json_is_string(name))
		return cmk_err_set(err, -EINVAL, "%s: key_name is not a string",
				   path);
	if (strcmp(json_string_value(name), key_name) != 0) {
		if (!printable(json_string_value(name), CMK_KEY_NAME_MAX))
			return cmk_err_set(err, -EINVAL,
					   "%s holds a key with a malformed "
					   "name, config names '%s'",
					   path, key_name);
		return cmk_err_set(err, -EINVAL,
				   "%s holds key '%s', config names '%s'", path,
				   json_string_value(name), key_name);
	}
	seal = json_object_get(doc->root, "seal");
	doc->sealed = !json_is_null(seal);
	if (doc->sealed) {
		ret = parse_seal(seal, &doc->seal, path, err);
		if (ret)
			return ret;
	}
	return parse_versions(json_object_get(doc->root, "versions"), doc, path,
			      err);
}

/* Reads and checks the keystore the config names. */
static int doc_load(const struct cmk_conf *conf, struct ks_doc *doc,
		    struct cmk_err *err)
{
	const char *path = conf->file.keystore;
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;
	int ret;

	memset(doc, 0, sizeof(*doc));
	ret = cmk_kms_read_secret_bytes(path, "keystore", CMK_KEYSTORE_MAX_SIZE,
					&buf, &cap, &len, err);
	if (ret == -ENOENT)
		cmk_err_set(err, ret,
			    "%s: no such keystore (create it with "
			    "'cmkfs key create')",
			    path);
	if (ret)
		return ret;
	ret = parse_doc(path, conf->file.key_name, (const char *)buf, len, doc,
			err);
	cmk_secure_free(buf, cap);
	if (ret)
		goto out;
	/* The config says what to expect: a keystore that is not what it
	 * says has been replaced or misconfigured. */
	if (doc->sealed && !wants_seal(conf))
		ret = cmk_err_set(err, -ENOKEY,
				  "%s: sealed with a passphrase, but %s sets "
				  "neither passphrase_file nor "
				  "passphrase_prompt",
				  path, conf->path);
	else if (!doc->sealed && wants_seal(conf))
		ret = cmk_err_set(err, -EINVAL,
				  "%s: not sealed, but %s sets a passphrase",
				  path, conf->path);
out:
	if (ret)
		doc_free(doc);
	return ret;
}

static const struct ks_version *doc_find(const struct ks_doc *doc,
					 const char *id)
{
	for (size_t i = 0; i < doc->count; i++)
		if (!strcmp(doc->v[i].id, id))
			return &doc->v[i];
	return NULL;
}

/* Recovers a version's key into cmk. sealkey: the derived key when the
 * keystore is sealed. */
static int version_key(const struct ks_doc *doc, const struct ks_version *v,
		       const char *key_name, const uint8_t *sealkey,
		       uint8_t *cmk, const char *path, struct cmk_err *err)
{
	uint8_t aad[KS_AAD_MAX];
	uint8_t *blob = NULL;
	size_t aad_len;
	int ret = 0;

	if (!doc->sealed) {
		/* Checked when read: this cannot fail but for memory. */
		if (!decode_exact(v->key, v->key_len, cmk, CMK_KEY_LEN))
			return cmk_err_set(err, -ENOMEM,
					   "%s: version %s: cannot decode",
					   path, v->id);
		return 0;
	}
	blob = cmk_secure_alloc(KS_SEALED_LEN);
	if (!blob)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	if (!decode_exact(v->key, v->key_len, blob, KS_SEALED_LEN)) {
		ret = cmk_err_set(err, -ENOMEM, "%s: version %s: cannot decode",
				  path, v->id);
		goto out;
	}
	aad_len = build_aad(aad, key_name, v->id);
	ret = cmk_gcm_open(sealkey, blob, aad, aad_len,
			   blob + CMK_GCM_NONCE_LEN, CMK_KEY_LEN,
			   blob + CMK_GCM_NONCE_LEN + CMK_KEY_LEN, cmk);
	if (ret == -EBADMSG)
		ret = cmk_err_set(err, -EKEYREJECTED,
				  "%s: wrong passphrase (version %s does not "
				  "decrypt)",
				  path, v->id);
	else if (ret)
		cmk_err_set(err, ret, "%s: version %s: cannot decrypt", path,
			    v->id);
out:
	cmk_secure_free(blob, KS_SEALED_LEN);
	return ret;
}

/* --- writing ------------------------------------------------------------- */

/* The JSON string for a version's key: plain or sealed base64. */
static int key_json(const uint8_t *cmk, const char *key_name, const char *id,
		    const uint8_t *sealkey, json_t **out)
{
	uint8_t aad[KS_AAD_MAX];
	uint8_t *blob;
	char *b64;
	size_t aad_len;
	int ret;

	blob = cmk_secure_alloc(KS_SEALED_LEN);
	b64 = cmk_secure_alloc(KS_B64_BUF);
	if (!blob || !b64) {
		ret = -ENOMEM;
		goto out;
	}
	if (sealkey) {
		cmk_random(blob, CMK_GCM_NONCE_LEN);
		aad_len = build_aad(aad, key_name, id);
		ret = cmk_gcm_seal(sealkey, blob, aad, aad_len, cmk,
				   CMK_KEY_LEN, blob + CMK_GCM_NONCE_LEN,
				   blob + CMK_GCM_NONCE_LEN + CMK_KEY_LEN);
		if (ret == 0)
			ret = cmk_base64_encode(blob, KS_SEALED_LEN, b64,
						KS_B64_BUF);
	} else {
		ret = cmk_base64_encode(cmk, CMK_KEY_LEN, b64, KS_B64_BUF);
	}
	if (ret)
		goto out;
	/* jansson's copy lives on the locked heap. */
	*out = json_string(b64);
	if (!*out)
		ret = -ENOMEM;
out:
	cmk_secure_free(b64, KS_B64_BUF);
	cmk_secure_free(blob, KS_SEALED_LEN);
	return ret;
}

/* Appends a new enabled version with a fresh random key to versions. */
static int add_version(json_t *versions, const char *id, const char *key_name,
		       const uint8_t *sealkey, const char *path,
		       struct cmk_err *err)
{
	json_t *obj, *key = NULL;
	uint8_t *cmk;
	int ret;

	cmk = cmk_secure_alloc(CMK_KEY_LEN);
	if (!cmk)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	cmk_random(cmk, CMK_KEY_LEN);
	ret = key_json(cmk, key_name, id, sealkey, &key);
	if (ret) {
		cmk_err_set(err, ret, "%s: cannot encode version %s", path, id);
		goto out;
	}
	obj = json_object();
	if (!obj) {
		json_decref(key);
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* The _new calls take the reference even when they fail; "|" runs
	 * every one of them, so that nothing leaks. */
	if (json_object_set_new(obj, "id", json_string(id)) |
	    json_object_set_new(obj, "enabled", json_true()) |
	    json_object_set_new(obj, "created",
				json_integer((json_int_t)time(NULL))) |
	    json_object_set_new(obj, "key", key)) {
		json_decref(obj);
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (json_array_append_new(versions, obj))
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
out:
	cmk_secure_free(cmk, CMK_KEY_LEN);
	return ret;
}

static int write_atomic(const char *path, json_t *root, bool noreplace,
			struct cmk_err *err)
{
	char *buf = NULL;
	size_t size, cap = 0;
	int ret;

	size = json_dumpb(root, NULL, 0, KS_JSON_FLAGS);
	if (size == 0)
		return cmk_err_set(err, -ENOMEM, "%s: cannot encode", path);
	if (size + 1 > CMK_KEYSTORE_MAX_SIZE)
		return cmk_err_set(err, -EFBIG,
				   "%s: would grow beyond %u bytes", path,
				   CMK_KEYSTORE_MAX_SIZE);
	cap = size + 1;
	buf = cmk_secure_alloc(cap);
	if (!buf)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	if (json_dumpb(root, buf, size, KS_JSON_FLAGS) != size) {
		ret = cmk_err_set(err, -ENOMEM, "%s: cannot encode", path);
		goto out;
	}
	buf[size] = '\n';
	ret = cmk_replace_file(AT_FDCWD, NULL, path, buf, cap, 0600, noreplace,
			       err);
out:
	cmk_secure_free(buf, cap);
	return ret;
}

/* Serialises writers: an exclusive flock on PATH.lock, held until the fd
 * is closed. The lock file stays: removing it would race. */
static int lock_keystore(const char *path, int *fd_out, struct cmk_err *err)
{
	char lock[PATH_MAX];
	int fd, ret;

	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >=
	    sizeof(lock))
		return cmk_err_set(err, -ENAMETOOLONG, "%s: path too long",
				   path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		return cmk_err_set(err, ret,
				   "%s: cannot create the lock "
				   "file: %s",
				   lock, strerror(-ret));
	}
	while (flock(fd, LOCK_EX) != 0) {
		ret = -errno;
		if (ret == -EINTR)
			continue;
		close(fd);
		return cmk_err_set(err, ret, "%s: flock: %s", lock,
				   strerror(-ret));
	}
	*fd_out = fd;
	return 0;
}

static int check_absent(const char *path, struct cmk_err *err)
{
	struct stat st;
	int ret;

	if (lstat(path, &st) == 0)
		return cmk_err_set(err, -EEXIST, "%s: already exists", path);
	ret = -errno;
	if (ret == -ENOENT)
		return 0;
	return cmk_err_set(err, ret, "%s: %s", path, strerror(-ret));
}

/* --- administration ------------------------------------------------------ */

/* A new seal: fresh salt, this build's scrypt cost, the key derived from
 * pass into sk; *seal_json gets its JSON object. */
static int new_seal(struct ks_sealkey *sk, const struct cmk_conf *conf,
		    const uint8_t *pass, size_t pass_len, json_t **seal_json,
		    struct cmk_err *err)
{
	struct ks_seal params = {
		.n = create_scrypt_n,
		.r = KS_SCRYPT_R,
		.p = KS_SCRYPT_P,
	};
	char salt[4 * ((KS_SALT_LEN + 2) / 3) + 1];
	int ret;

	cmk_random(params.salt, KS_SALT_LEN);
	ret = sealkey_get(sk, conf, pass, pass_len, &params, err);
	if (ret)
		return ret;
	cmk_base64_encode(params.salt, KS_SALT_LEN, salt, sizeof(salt));
	*seal_json = json_pack("{s:s, s:I, s:i, s:i, s:s}", "kdf", "scrypt",
			       "n", (json_int_t)params.n, "r", (int)params.r,
			       "p", (int)params.p, "salt", salt);
	return *seal_json ? 0 : cmk_err_set(err, -ENOMEM, "out of memory");
}

int cmk_keystore_create(const struct cmk_conf *conf,
			char new_version[CMK_KMS_VERSION_MAX + 1],
			struct cmk_err *err)
{
	const char *path = conf->file.keystore;
	struct ks_sealkey sk = { 0 };
	json_t *root = NULL, *seal;
	uint8_t *pass = NULL;
	size_t pass_len = 0;
	int lock_fd = -1;
	int ret;

	cmk_kms_global_init();
	ret = check_conf(conf, err);
	if (ret)
		return ret;
	/* Before asking for a passphrase that would not be used. */
	ret = check_absent(path, err);
	if (ret)
		return ret;
	if (wants_seal(conf)) {
		ret = get_passphrase(conf, true, &pass, &pass_len, err);
		if (ret)
			return ret;
	}
	ret = lock_keystore(path, &lock_fd, err);
	if (ret)
		goto out;
	ret = check_absent(path, err);
	if (ret)
		goto out;
	if (pass) {
		ret = new_seal(&sk, conf, pass, pass_len, &seal, err);
		if (ret)
			goto out;
	} else {
		seal = json_null();
	}
	root = json_object();
	if (!root) {
		json_decref(seal);
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (json_object_set_new(root, "format", json_string(KS_FORMAT)) |
	    json_object_set_new(root, "format_version",
				json_integer(KS_FORMAT_VERSION)) |
	    json_object_set_new(root, "key_name",
				json_string(conf->file.key_name)) |
	    json_object_set_new(root, "seal", seal) |
	    json_object_set_new(root, "versions", json_array())) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = add_version(json_object_get(root, "versions"), "1",
			  conf->file.key_name, pass ? sk.key : NULL, path, err);
	if (ret)
		goto out;
	ret = write_atomic(path, root, true, err);
	if (ret)
		goto out;
	strcpy(new_version, "1");
out:
	json_decref(root);
	if (lock_fd >= 0)
		close(lock_fd);
	sealkey_clear(&sk);
	cmk_secure_free(pass, KS_PASS_MAX);
	return ret;
}

/* An administration command's hold on the keystore: the passphrase when
 * asked for (before the lock: nobody waits while a human types), the
 * lock, the document. */
struct ks_admin {
	uint8_t *pass;
	size_t pass_len;
	int lock_fd;
	struct ks_doc doc;
};

static int ks_admin_begin(const struct cmk_conf *conf, bool ask,
			  struct ks_admin *a, struct cmk_err *err)
{
	int ret;

	memset(a, 0, sizeof(*a));
	a->lock_fd = -1;
	cmk_kms_global_init();
	ret = check_conf(conf, err);
	if (ret == 0 && ask && wants_seal(conf))
		ret = get_passphrase(conf, false, &a->pass, &a->pass_len, err);
	if (ret == 0)
		ret = lock_keystore(conf->file.keystore, &a->lock_fd, err);
	if (ret == 0)
		ret = doc_load(conf, &a->doc, err);
	return ret;
}

static void ks_admin_end(struct ks_admin *a)
{
	doc_free(&a->doc);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	cmk_secure_free(a->pass, KS_PASS_MAX);
}

int cmk_keystore_rotate(const struct cmk_conf *conf,
			char new_version[CMK_KMS_VERSION_MAX + 1],
			struct cmk_err *err)
{
	const char *path = conf->file.keystore;
	char id[CMK_KMS_VERSION_MAX + 1];
	struct ks_sealkey sk = { 0 };
	struct ks_admin a;
	struct ks_doc *doc = &a.doc;
	uint8_t *cmk = NULL;
	int ret;

	ret = ks_admin_begin(conf, true, &a, err);
	if (ret)
		goto out;
	if (doc->sealed) {
		/* The passphrase must open what is there: a wrong one would
		 * add a version nobody can use with the right one. */
		cmk = cmk_secure_alloc(CMK_KEY_LEN);
		if (!cmk) {
			ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
			goto out;
		}
		ret = sealkey_get(&sk, conf, a.pass, a.pass_len, &doc->seal,
				  err);
		if (ret)
			goto out;
		ret = version_key(doc, &doc->v[0], conf->file.key_name, sk.key,
				  cmk, path, err);
		if (ret)
			goto out;
	}
	if (doc->v[0].num + 1 >= 1000000000000000000ull) {
		ret = cmk_err_set(err, -EOVERFLOW, "%s: no version after %s",
				  path, doc->v[0].id);
		goto out;
	}
	snprintf(id, sizeof(id), "%" PRIu64, doc->v[0].num + 1);
	ret = add_version(json_object_get(doc->root, "versions"), id,
			  conf->file.key_name, doc->sealed ? sk.key : NULL,
			  path, err);
	if (ret)
		goto out;
	ret = write_atomic(path, doc->root, false, err);
	if (ret)
		goto out;
	strcpy(new_version, id);
out:
	ks_admin_end(&a);
	sealkey_clear(&sk);
	cmk_secure_free(cmk, CMK_KEY_LEN);
	return ret;
}

int cmk_keystore_set_enabled(const struct cmk_conf *conf, const char *version,
			     bool enabled, struct cmk_err *err)
{
	const struct ks_version *v;
	struct ks_admin a;
	int ret;

	if (!cmk_kms_version_valid(version))
		return cmk_err_set(err, -EINVAL,
				   "not a valid key version (1 to %d "
				   "characters of 0-9 A-Z a-z . _ -)",
				   CMK_KMS_VERSION_MAX);
	ret = ks_admin_begin(conf, false, &a, err);
	if (ret)
		goto out;
	v = doc_find(&a.doc, version);
	if (!v) {
		ret = cmk_err_set(err, -ENOENT,
				  "%s: key '%s' has no version %s",
				  conf->file.keystore, conf->file.key_name,
				  version);
		goto out;
	}
	if (v->enabled == enabled)
		goto out; /* nothing to write */
	if (json_object_set_new(v->obj, "enabled", json_boolean(enabled))) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = write_atomic(conf->file.keystore, a.doc.root, false, err);
out:
	ks_admin_end(&a);
	return ret;
}

int cmk_keystore_read_passphrase(const char *file, const char *label,
				 uint8_t **pass_out, size_t *len_out,
				 struct cmk_err *err)
{
	struct cmk_conf conf;

	/* get_passphrase() reads what a config names: make one that names
	 * only this. */
	memset(&conf, 0, sizeof(conf));
	snprintf(conf.file.passphrase_file, sizeof(conf.file.passphrase_file),
		 "%s", file ? file : "");
	snprintf(conf.file.keystore, sizeof(conf.file.keystore), "%s", label);
	conf.file.passphrase_prompt = !file;
	return get_passphrase(&conf, !file, pass_out, len_out, err);
}

int cmk_keystore_passwd(const struct cmk_conf *conf, const uint8_t *new_pass,
			size_t new_len, struct cmk_err *err)
{
	const char *path = conf->file.keystore;
	struct ks_sealkey old_sk = { 0 }, new_sk = { 0 };
	struct ks_admin a;
	struct ks_doc *doc = &a.doc;
	uint8_t *cmk = NULL;
	json_t *seal = NULL;
	int ret;

	/* The current passphrase, to open every version. */
	ret = ks_admin_begin(conf, true, &a, err);
	if (ret)
		goto out;
	cmk = cmk_secure_alloc(CMK_KEY_LEN);
	if (!cmk) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	if (doc->sealed) {
		ret = sealkey_get(&old_sk, conf, a.pass, a.pass_len, &doc->seal,
				  err);
		if (ret)
			goto out;
	}
	if (new_pass)
		ret = new_seal(&new_sk, conf, new_pass, new_len, &seal, err);
	else
		seal = json_null();
	if (ret)
		goto out;
	/* Every version opened with the old seal and written with the new
	 * one: a wrong current passphrase stops here, before any write. */
	for (size_t i = 0; i < doc->count; i++) {
		json_t *key = NULL;

		ret = version_key(doc, &doc->v[i], conf->file.key_name,
				  old_sk.key, cmk, path, err);
		if (ret)
			goto out;
		ret = key_json(cmk, conf->file.key_name, doc->v[i].id,
			       new_pass ? new_sk.key : NULL, &key);
		if (ret == 0 && json_object_set_new(doc->v[i].obj, "key", key))
			ret = -ENOMEM;
		if (ret) {
			cmk_err_set(err, ret, "%s: cannot encode version %s",
				    path, doc->v[i].id);
			goto out;
		}
	}
	ret = json_object_set_new(doc->root, "seal", seal) ? -ENOMEM : 0;
	seal = NULL;
	if (ret) {
		cmk_err_set(err, ret, "out of memory");
		goto out;
	}
	ret = write_atomic(path, doc->root, false, err);
out:
	json_decref(seal);
	ks_admin_end(&a);
	sealkey_clear(&old_sk);
	sealkey_clear(&new_sk);
	cmk_secure_free(cmk, CMK_KEY_LEN);
	return ret;
}

/* --- the provider -------------------------------------------------------- */

static const char *ks_key_name(const struct cmk_conf *conf)
{
	return conf->file.key_name;
}

static int ks_open(const struct cmk_conf *conf, void **state,
		   struct cmk_err *err)
{
	struct ks_state *st;
	struct ks_doc doc;
	int ret;

	ret = check_conf(conf, err);
	if (ret)
		return ret;
	/* A missing, unsafe or broken keystore fails here, early; the
	 * passphrase is asked for by the first fetch that needs it. */
	ret = doc_load(conf, &doc, err);
	if (ret)
		return ret;
	doc_free(&doc);
	st = calloc(1, sizeof(*st));
	if (!st)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&st->lock, NULL);
	st->conf = *conf;
	*state = st;
	return 0;
}

static void ks_close(void *state)
{
	struct ks_state *st = state;

	if (!st)
		return;
	sealkey_clear(&st->sk);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static int ks_list(void *state, struct cmk_kms_version **versions,
		   size_t *count, struct cmk_err *err)
{
	struct ks_state *st = state;
	struct cmk_kms_version *out;
	struct ks_doc doc;
	int ret;

	ret = doc_load(&st->conf, &doc, err);
	if (ret)
		return ret;
	out = calloc(doc.count, sizeof(*out));
	if (!out) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < doc.count; i++) {
		strcpy(out[i].id, doc.v[i].id);
		out[i].enabled = doc.v[i].enabled;
		out[i].created = doc.v[i].created;
	}
	*versions = out;
	*count = doc.count;
out:
	doc_free(&doc);
	return ret;
}

static int ks_fetch(void *state, const char *version, uint8_t *cmk,
		    char version_out[CMK_KMS_VERSION_MAX + 1],
		    struct cmk_err *err)
{
	struct ks_state *st = state;
	const char *path = st->conf.file.keystore;
	const char *name = st->conf.file.key_name;
	const struct ks_version *v = NULL;
	struct ks_doc doc;
	int ret;

	ret = doc_load(&st->conf, &doc, err);
	if (ret)
		return ret;
	if (!version) {
		for (size_t i = 0; i < doc.count && !v; i++)
			if (doc.v[i].enabled)
				v = &doc.v[i];
		if (!v) {
			ret = cmk_err_set(err, -EACCES,
					  "%s: no enabled version of key '%s'",
					  path, name);
			goto out;
		}
	} else {
		v = doc_find(&doc, version);
		if (!v) {
			ret = cmk_err_set(err, -ENOENT,
					  "%s: key '%s' has no version %s",
					  path, name, version);
			goto out;
		}
		if (!v->enabled) {
			ret = cmk_err_set(err, -EACCES,
					  "%s: version %s of key '%s' is "
					  "disabled",
					  path, v->id, name);
			goto out;
		}
	}
	pthread_mutex_lock(&st->lock);
	if (doc.sealed)
		ret = sealkey_get(&st->sk, &st->conf, NULL, 0, &doc.seal, err);
	if (ret == 0)
		ret = version_key(&doc, v, name, st->sk.key, cmk, path, err);
	/* Forget a key that did not work, so that the next fetch asks for
	 * the passphrase again. */
	if (ret == -EKEYREJECTED)
		st->sk.valid = false;
	pthread_mutex_unlock(&st->lock);
	if (ret == 0)
		strcpy(version_out, v->id);
out:
	doc_free(&doc);
	return ret;
}

const struct cmk_kms_provider cmk_keystore_provider = {
	.name = "file",
	.key_name = ks_key_name,
	.open = ks_open,
	.list_versions = ks_list,
	.fetch = ks_fetch,
	.close = ks_close,
};
