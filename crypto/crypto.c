/* SPDX-License-Identifier: MIT */
/* OpenSSL behind the interface of crypto.h. */
#include "crypto/crypto.h"
#include "crypto/secmem.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

/* Every allocation of OpenSSL goes to the locked heap (secmem.c): its
 * contexts hold expanded key schedules, HKDF and HMAC state, and copies of
 * the keys they were given. */
static void *ossl_malloc(size_t len, const char *file, int line)
{
	(void)file;
	(void)line;
	return cmk_locked_malloc(len);
}

static void *ossl_realloc(void *ptr, size_t len, const char *file, int line)
{
	(void)file;
	(void)line;
	return cmk_locked_realloc(ptr, len);
}

static void ossl_free(void *ptr, const char *file, int line)
{
	(void)file;
	(void)line;
	cmk_locked_free(ptr);
}

/* --- init ------------------------------------------------------------- */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;
static EVP_CIPHER *cipher_xts;
static EVP_CIPHER *cipher_gcm;
static EVP_CIPHER *cipher_siv; /* optional: only encrypted names need it */
static EVP_MD *md_sha256;
static EVP_KDF *kdf_hkdf;
static EVP_MAC *mac_hmac;

/* Contexts each thread keeps between calls: fetching and building them is
 * most of what a SHA-256, an HMAC or a GCM operation on a few dozen bytes
 * costs in OpenSSL 3 (the walk of rewrap and status does several per
 * file). Each call keys its context anew and, when done, keys it again
 * with zeros, so that no key's state waits in it for the next call; the
 * contexts live in the locked heap, as all of OpenSSL's memory does. */
struct thread_ctx {
	EVP_MD_CTX *md;
	EVP_MAC_CTX *hmac;
	EVP_CIPHER_CTX *gcm;
};
static pthread_key_t thread_key;
static bool thread_key_ok;

static void thread_ctx_free(void *arg)
{
	struct thread_ctx *t = arg;

	EVP_MD_CTX_free(t->md);
	EVP_MAC_CTX_free(t->hmac);
	EVP_CIPHER_CTX_free(t->gcm);
	free(t);
}

/* This thread's contexts (never NULL members), or NULL when they cannot
 * be made: the caller then builds its own for the call. */
static struct thread_ctx *thread_ctx(void)
{
	struct thread_ctx *t;
	OSSL_PARAM params[2];

	if (!thread_key_ok)
		return NULL;
	t = pthread_getspecific(thread_key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->md = EVP_MD_CTX_new();
	t->hmac = mac_hmac ? EVP_MAC_CTX_new(mac_hmac) : NULL;
	t->gcm = EVP_CIPHER_CTX_new();
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!t->md || !t->hmac || !t->gcm ||
	    !EVP_MAC_CTX_set_params(t->hmac, params) ||
	    !EVP_CipherInit_ex(t->gcm, cipher_gcm, NULL, NULL, NULL, 1) ||
	    pthread_setspecific(thread_key, t) != 0) {
		thread_ctx_free(t);
		return NULL;
	}
	return t;
}

static void crypto_init_once(void)
{
	/* Before anything else of OpenSSL: it refuses new allocators once
	 * it has allocated, and then its key schedules would live in the
	 * ordinary heap. */
	if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
		init_result = -EALREADY;
		return;
	}
	if (cmk_locked_init() != 0) {
		init_result = -ENOMEM;
		return;
	}
	cipher_xts = EVP_CIPHER_fetch(NULL, "AES-256-XTS", NULL);
	cipher_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	thread_key_ok = pthread_key_create(&thread_key, thread_ctx_free) == 0;
	/* Not fatal when missing: volumes with plaintext names work without
	 * it, and cmk_siv_new() reports -ENOSYS. */
	cipher_siv = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL);
	if (!cipher_xts || !cipher_gcm || !md_sha256 || !kdf_hkdf) {
		init_result = -ENOSYS;
		return;
	}
	init_result = 0;
}

int cmk_crypto_init(struct cmk_err *err)
{
	pthread_once(&init_once, crypto_init_once);
	if (init_result == -EALREADY)
		return cmk_err_set(err, -EALREADY,
				   "OpenSSL allocated memory before cmkfs "
				   "could lock it (a bug: cmk_crypto_init() "
				   "must come first)");
	if (init_result == -ENOMEM) {
		struct rlimit lim = { 0, 0 };

		getrlimit(RLIMIT_MEMLOCK, &lim);
		return cmk_err_set(
			err, -ENOMEM,
			"cannot lock 1 MiB of memory for keys: "
			"RLIMIT_MEMLOCK is %llu KiB (raise it: "
			"LimitMEMLOCK=, ulimit -l)",
			lim.rlim_cur == RLIM_INFINITY
				? 0ULL
				: (unsigned long long)(lim.rlim_cur >> 10));
	}
	if (init_result < 0)
		return cmk_err_set(err, init_result,
				   "OpenSSL lacks AES-256-XTS, AES-256-GCM, "
				   "SHA-256 or HKDF");
	return 0;
}

const char *cmk_crypto_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

/* --- secure memory ------------------------------------------------------ */
void *cmk_secure_alloc(size_t len)
{
	pthread_once(&init_once, crypto_init_once);
	return cmk_locked_malloc(len); /* zeroed */
}

void cmk_secure_free(void *ptr, size_t len)
{
	(void)len; /* the whole block is wiped */
	cmk_locked_free(ptr);
}

bool cmk_secure_is_locked(const void *ptr)
{
	return cmk_locked_owns(ptr);
}

void cmk_cleanse(void *ptr, size_t len)
{
	OPENSSL_cleanse(ptr, len);
}

bool cmk_memeq_ct(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void cmk_random(void *buf, size_t len)
{
	if (RAND_bytes(buf, (int)len) != 1) {
		/* Without randomness every key and nonce is suspect: stop. */
		fprintf(stderr, "cmkfs: fatal: the random generator failed\n");
		abort();
	}
}

/* --- hashes and KDFs ----------------------------------------------------- */
int cmk_sha256(const void *data, size_t len, uint8_t out[CMK_SHA256_LEN])
{
	unsigned int out_len = 0;

	struct thread_ctx *t;

	pthread_once(&init_once, crypto_init_once);
	t = thread_ctx();
	if (!t) {
		if (!EVP_Digest(data, len, out, &out_len, md_sha256, NULL))
			return -EIO;
		return 0;
	}
	if (!EVP_DigestInit_ex(t->md, md_sha256, NULL) ||
	    !EVP_DigestUpdate(t->md, data, len) ||
	    !EVP_DigestFinal_ex(t->md, out, &out_len))
		return -EIO;
	return 0;
}

/* HMAC-SHA256 of up to three pieces on a thread's context. */
static int hmac3(EVP_MAC_CTX *ctx, const uint8_t *key, size_t key_len,
		 const void *a, size_t a_len, const void *b, size_t b_len,
		 const void *c, size_t c_len, uint8_t out[CMK_SHA256_LEN])
{
	size_t out_len = 0;

	if (!EVP_MAC_init(ctx, key, key_len, NULL) ||
	    (a_len && !EVP_MAC_update(ctx, a, a_len)) ||
	    (b_len && !EVP_MAC_update(ctx, b, b_len)) ||
	    (c_len && !EVP_MAC_update(ctx, c, c_len)) ||
	    !EVP_MAC_final(ctx, out, &out_len, CMK_SHA256_LEN) ||
	    out_len != CMK_SHA256_LEN)
		return -EIO;
	return 0;
}

/* RFC 5869 on the thread's HMAC context: OpenSSL's HKDF builds an HKDF
 * context and fetches HMAC and SHA-256 on every call. Like OpenSSL's,
 * the pseudo-random key lives on the stack and is wiped. */
static int hkdf_cached(struct thread_ctx *tc, const uint8_t *ikm,
		       size_t ikm_len, const uint8_t *salt, size_t salt_len,
		       const char *info, uint8_t *out, size_t out_len)
{
	EVP_MAC_CTX *ctx = tc->hmac;
	static const uint8_t zeros[CMK_SHA256_LEN];
	uint8_t prk[CMK_SHA256_LEN], t[CMK_SHA256_LEN];
	size_t info_len = strlen(info), done = 0, t_len = 0;
	uint8_t i = 0;
	int ret;

	if (out_len > 255 * CMK_SHA256_LEN)
		return -EINVAL;
	if (!salt_len) {
		salt = zeros;
		salt_len = sizeof(zeros);
	}
	ret = hmac3(ctx, salt, salt_len, ikm, ikm_len, NULL, 0, NULL, 0, prk);
	while (ret == 0 && done < out_len) {
		size_t n = out_len - done < CMK_SHA256_LEN ? out_len - done
							   : CMK_SHA256_LEN;

		i++;
		ret = hmac3(ctx, prk, sizeof(prk), t, t_len, info, info_len, &i,
			    1, t);
		t_len = sizeof(t);
		if (ret == 0)
			memcpy(out + done, t, n);
		done += n;
	}
	OPENSSL_cleanse(prk, sizeof(prk));
	OPENSSL_cleanse(t, sizeof(t));
	/* Re-keyed with zeros: the PRK's padded keys leave the context;
	 * if that fails, the context goes (freeing wipes it). */
	if (!EVP_MAC_init(ctx, zeros, sizeof(zeros), NULL)) {
		pthread_setspecific(thread_key, NULL);
		thread_ctx_free(tc);
		if (!ret)
			ret = -EIO;
	}
	if (ret)
		OPENSSL_cleanse(out, out_len);
	return ret;
}

int cmk_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		    size_t salt_len, const char *info, uint8_t *out,
		    size_t out_len)
{
	OSSL_PARAM params[5], *p = params;
	struct thread_ctx *t;
	EVP_KDF_CTX *kctx;
	int ret = 0;

	pthread_once(&init_once, crypto_init_once);
	t = thread_ctx();
	if (t) {
		ret = hkdf_cached(t, ikm, ikm_len, salt, salt_len, info, out,
				  out_len);
		cmk_burn_stack(); /* HMAC's and SHA-256's frames held key bytes
				   */
		return ret;
	}
	kctx = EVP_KDF_CTX_new(kdf_hkdf);
	if (!kctx)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256",
						0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)ikm, ikm_len);
	/* No salt is RFC 5869's all-zero salt; OpenSSL refuses an empty
	 * one but uses zeros when the parameter is left out. */
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						 (void *)info, strlen(info));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		ret = -EIO;
	EVP_KDF_CTX_free(kctx);
	cmk_burn_stack(); /* the PRK and HMAC's padded keys */
	return ret;
}

int cmk_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
		    size_t len, uint8_t out[CMK_SHA256_LEN])
{
	unsigned int out_len = 0;
	int ret = 0;

	pthread_once(&init_once, crypto_init_once);
	if (!HMAC(md_sha256, key, (int)key_len, data, len, out, &out_len) ||
	    out_len != CMK_SHA256_LEN)
		ret = -EIO;
	cmk_burn_stack();
	return ret;
}

int cmk_scrypt(const void *pass, size_t pass_len, const uint8_t *salt,
	       size_t salt_len, uint64_t n, uint32_t r, uint32_t p,
	       uint8_t *out, size_t out_len)
{
	/* 128 * r * n bytes plus slack; callers bound n and r. */
	uint64_t maxmem = 256 * (uint64_t)r * n + (1u << 20);
	int ret = 0;

	pthread_once(&init_once, crypto_init_once);
	if (EVP_PBE_scrypt(pass, pass_len, salt, salt_len, n, r, p, maxmem, out,
			   out_len) != 1)
		ret = -EINVAL;
	cmk_burn_stack();
	return ret;
}

/* --- AES-256-GCM --------------------------------------------------------- */
static const uint8_t zero_key[CMK_KEY_LEN];

static int gcm_run(bool encrypt, const uint8_t *key, const uint8_t *nonce,
		   const void *aad, size_t aad_len, const uint8_t *in,
		   size_t len, uint8_t *out, uint8_t *tag)
{
	struct thread_ctx *t;
	EVP_CIPHER_CTX *ctx;
	int out_len = 0;
	int ret = -EIO;

	pthread_once(&init_once, crypto_init_once);
	if (len > INT32_MAX || aad_len > INT32_MAX)
		return -EINVAL;
	/* The thread's context is only re-keyed: no cipher fetch, no new
	 * context per call. */
	t = thread_ctx();
	ctx = t ? t->gcm : EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (!EVP_CipherInit_ex(ctx, t ? NULL : cipher_gcm, NULL, key, nonce,
			       encrypt))
		goto out;
	if (aad_len &&
	    !EVP_CipherUpdate(ctx, NULL, &out_len, aad, (int)aad_len))
		goto out;
	if (len && !EVP_CipherUpdate(ctx, out, &out_len, in, (int)len))
		goto out;
	if (!encrypt && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
					     CMK_GCM_TAG_LEN, tag))
		goto out;
	if (!EVP_CipherFinal_ex(ctx, out + out_len, &out_len)) {
		ret = encrypt ? -EIO : -EBADMSG;
		goto out;
	}
	if (encrypt && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
					    CMK_GCM_TAG_LEN, tag))
		goto out;
	ret = 0;
out:
	if (ret == -EBADMSG)
		cmk_cleanse(out, len); /* never hand out unauthenticated data */
	if (!t) {
		EVP_CIPHER_CTX_free(ctx);
	} else if ((ret == 0 || ret == -EBADMSG) &&
		   EVP_CipherInit_ex(ctx, NULL, NULL, zero_key, NULL, -1)) {
		/* Re-keyed with zeros: the key's schedule leaves the
		 * context kept for the thread's next call. */
	} else if (ret != -ENOMEM) {
		/* A context OpenSSL refused may be in any state: a new one
		 * for the next call. */
		EVP_CIPHER_CTX_free(t->gcm);
		t->gcm = EVP_CIPHER_CTX_new();
		if (!t->gcm || !EVP_CipherInit_ex(t->gcm, cipher_gcm, NULL,
						  NULL, NULL, 1)) {
			pthread_setspecific(thread_key, NULL);
			thread_ctx_free(t);
		}
	}
	cmk_burn_stack(); /* the key passed through the key set-up */
	return ret;
}

int cmk_gcm_seal(const uint8_t key[CMK_KEY_LEN],
		 const uint8_t nonce[CMK_GCM_NONCE_LEN], const void *aad,
		 size_t aad_len, const uint8_t *plain, size_t len,
		 uint8_t *cipher, uint8_t tag[CMK_GCM_TAG_LEN])
{
	return gcm_run(true, key, nonce, aad, aad_len, plain, len, cipher, tag);
}

int cmk_gcm_open(const uint8_t key[CMK_KEY_LEN],
		 const uint8_t nonce[CMK_GCM_NONCE_LEN], const void *aad,
		 size_t aad_len, const uint8_t *cipher, size_t len,
		 const uint8_t tag[CMK_GCM_TAG_LEN], uint8_t *plain)
{
	return gcm_run(false, key, nonce, aad, aad_len, cipher, len, plain,
		       (uint8_t *)tag);
}

/* --- base64 --------------------------------------------------------------- */
int cmk_base64_encode(const uint8_t *in, size_t len, char *out, size_t out_size)
{
	size_t need = 4 * ((len + 2) / 3) + 1;

	if (len > INT32_MAX / 2)
		return -EINVAL;
	if (out_size < need)
		return -EMSGSIZE;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return 0;
}

int cmk_base64_decode(const char *in, size_t in_len, uint8_t *out,
		      size_t out_size, size_t *out_len)
{
	EVP_ENCODE_CTX *ctx;
	uint8_t *tmp;
	size_t tmp_size;
	int n1 = 0, n2 = 0;
	int ret = -EINVAL;

	if (in_len > INT32_MAX / 2)
		return -EINVAL;
	/* Decode into locked memory: the result is usually a key. */
	tmp_size = in_len / 4 * 3 + 3;
	tmp = cmk_secure_alloc(tmp_size);
	ctx = EVP_ENCODE_CTX_new();
	if (!tmp || !ctx) {
		ret = -ENOMEM;
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, tmp, &n1, (const unsigned char *)in,
			     (int)in_len) < 0)
		goto out;
	if (EVP_DecodeFinal(ctx, tmp + n1, &n2) != 1)
		goto out;
	if ((size_t)n1 + (size_t)n2 > out_size) {
		ret = -EMSGSIZE;
		goto out;
	}
	memcpy(out, tmp, (size_t)n1 + (size_t)n2);
	*out_len = (size_t)n1 + (size_t)n2;
	ret = 0;
out:
	EVP_ENCODE_CTX_free(ctx);
	cmk_secure_free(tmp, tmp_size);
	cmk_burn_stack(); /* the decoder's block buffer held key bytes */
	return ret;
}

int cmk_rs256_sign_pem(const char *pem, size_t pem_len, const void *data,
		       size_t len, uint8_t *sig, size_t sig_size,
		       size_t *sig_len, uint8_t cert_sha256[CMK_SHA256_LEN])
{
	BIO *bio = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	unsigned char *der = NULL;
	size_t out_len = sig_size;
	int der_len, ret = -EINVAL;

	if (pem_len > INT32_MAX)
		return -EINVAL;
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	if (!bio)
		return -ENOMEM;
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (BIO_reset(bio) == 1)
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!cert || !key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
	    X509_check_private_key(cert, key) != 1)
		goto out;
	der_len = i2d_X509(cert, &der);
	if (der_len <= 0 || cmk_sha256(der, (size_t)der_len, cert_sha256))
		goto out;
	if (!data) {
		ret = 0;
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md) {
		ret = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &out_len, data, len) != 1)
		goto out;
	*sig_len = out_len;
	ret = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(bio);
	cmk_burn_stack(); /* PEM decoding and RSA signing held the key */
	return ret;
}

/* --- AES-256-XTS ---------------------------------------------------------- */
struct cmk_xts {
	pthread_mutex_t lock; /* an EVP context is not shareable */
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

int cmk_xts_new(const uint8_t key[CMK_XTS_KEY_LEN], struct cmk_xts **out)
{
	struct cmk_xts *xts;

	pthread_once(&init_once, crypto_init_once);
	if (cmk_memeq_ct(key, key + CMK_XTS_KEY_LEN / 2, CMK_XTS_KEY_LEN / 2))
		return -EINVAL;
	xts = calloc(1, sizeof(*xts));
	if (!xts)
		return -ENOMEM;
	pthread_mutex_init(&xts->lock, NULL);
	xts->enc = EVP_CIPHER_CTX_new();
	xts->dec = EVP_CIPHER_CTX_new();
	if (!xts->enc || !xts->dec ||
	    !EVP_CipherInit_ex(xts->enc, cipher_xts, NULL, key, NULL, 1) ||
	    !EVP_CipherInit_ex(xts->dec, cipher_xts, NULL, key, NULL, 0)) {
		cmk_xts_free(xts);
		cmk_burn_stack();
		return -EIO;
	}
	cmk_burn_stack(); /* the key schedules were built on the stack */
	*out = xts;
	return 0;
}

int cmk_xts_crypt(struct cmk_xts *xts, bool encrypt, uint64_t tweak,
		  const uint8_t *in, uint8_t *out, size_t len)
{
	EVP_CIPHER_CTX *ctx = encrypt ? xts->enc : xts->dec;
	uint8_t iv[16] = { 0 };
	int out_len = 0;
	int ret = 0;
	int i;

	if (len < 16 || len > (1u << 24))
		return -EINVAL;
	for (i = 0; i < 8; i++)
		iv[i] = (uint8_t)(tweak >> (8 * i));
	pthread_mutex_lock(&xts->lock);
	/* NULL key keeps the key schedule: only the tweak changes. */
	if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) ||
	    !EVP_CipherUpdate(ctx, out, &out_len, in, (int)len) ||
	    (size_t)out_len != len)
		ret = -EIO;
	pthread_mutex_unlock(&xts->lock);
	return ret;
}

void cmk_xts_free(struct cmk_xts *xts)
{
	if (!xts)
		return;
	EVP_CIPHER_CTX_free(xts->enc);
	EVP_CIPHER_CTX_free(xts->dec);
	pthread_mutex_destroy(&xts->lock);
	free(xts);
}

/* --- AES-256-SIV ---------------------------------------------------------- */
struct cmk_siv {
	/* OpenSSL's SIV context is good for one operation after its key is
	 * set (the S2V state is consumed), and setting the key is the dear
	 * part (a CMAC fetch, two key schedules, one CMAC): the template is
	 * keyed once and every operation runs on a copy of it. The lock
	 * guards the template only while it is copied; OpenSSL does not
	 * promise that concurrent copies from one context are safe. */
	pthread_mutex_t lock;
	EVP_CIPHER_CTX *template;
};

int cmk_siv_new(const uint8_t key[CMK_SIV_KEY_LEN], struct cmk_siv **out)
{
	struct cmk_siv *siv;

	pthread_once(&init_once, crypto_init_once);
	if (!cipher_siv)
		return -ENOSYS;
	siv = calloc(1, sizeof(*siv));
	if (!siv)
		return -ENOMEM;
	pthread_mutex_init(&siv->lock, NULL);
	siv->template = EVP_CIPHER_CTX_new();
	if (!siv->template ||
	    !EVP_CipherInit_ex(siv->template, cipher_siv, NULL, key, NULL, 1)) {
		cmk_siv_free(siv);
		cmk_burn_stack();
		return -EIO;
	}
	cmk_burn_stack(); /* CMAC's subkeys and the key schedules */
	*out = siv;
	return 0;
}

static int siv_run(struct cmk_siv *siv, bool encrypt, const void *aad,
		   size_t aad_len, const uint8_t *in, size_t len, uint8_t *tag,
		   uint8_t *out)
{
	EVP_CIPHER_CTX *ctx;
	int out_len = 0;
	int ret = -EIO;
	int ok;

	if (aad_len == 0 || len == 0 || aad_len > INT32_MAX || len > INT32_MAX)
		return -EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	pthread_mutex_lock(&siv->lock);
	ok = EVP_CIPHER_CTX_copy(ctx, siv->template);
	pthread_mutex_unlock(&siv->lock);
	/* The template is keyed for encryption; -1 keeps the key. */
	if (!ok || !EVP_CipherInit_ex(ctx, NULL, NULL, NULL, NULL, encrypt))
		goto out;
	/* A decryption needs the tag before the data: the SIV is the IV. */
	if (!encrypt && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
					     CMK_SIV_TAG_LEN, tag))
		goto out;
	/* One update with out == NULL is one associated-data string. */
	if (!EVP_CipherUpdate(ctx, NULL, &out_len, aad, (int)aad_len))
		goto out;
	/* SIV takes the whole message in one update. OpenSSL reports a
	 * failed tag check here or in the final call, by version. */
	if (!EVP_CipherUpdate(ctx, out, &out_len, in, (int)len) ||
	    (size_t)out_len != len ||
	    !EVP_CipherFinal_ex(ctx, out + out_len, &out_len)) {
		ret = encrypt ? -EIO : -EBADMSG;
		goto out;
	}
	if (encrypt && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
					    CMK_SIV_TAG_LEN, tag))
		goto out;
	ret = 0;
out:
	if (ret && !encrypt)
		cmk_cleanse(out, len); /* never hand out unauthenticated data */
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

int cmk_siv_encrypt(struct cmk_siv *siv, const void *aad, size_t aad_len,
		    const uint8_t *in, size_t len, uint8_t *out)
{
	return siv_run(siv, true, aad, aad_len, in, len, out,
		       out + CMK_SIV_TAG_LEN);
}

int cmk_siv_decrypt(struct cmk_siv *siv, const void *aad, size_t aad_len,
		    const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t tag[CMK_SIV_TAG_LEN];

	if (len <= CMK_SIV_TAG_LEN)
		return -EBADMSG;
	memcpy(tag, in, CMK_SIV_TAG_LEN);
	return siv_run(siv, false, aad, aad_len, in + CMK_SIV_TAG_LEN,
		       len - CMK_SIV_TAG_LEN, tag, out);
}

void cmk_siv_free(struct cmk_siv *siv)
{
	if (!siv)
		return;
	EVP_CIPHER_CTX_free(siv->template);
	pthread_mutex_destroy(&siv->lock);
	free(siv);
}
