/* SPDX-License-Identifier: MIT */
/* The one interface in front of OpenSSL. No other module includes an OpenSSL
 * header: everything cryptographic in cmkfs goes through these functions.
 *
 * Secrets (CMKs, DEKs, derived keys, passphrases) live in buffers from
 * cmk_secure_alloc(): the locked heap of secmem.h, which is mlock'ed,
 * excluded from core dumps (MADV_DONTDUMP) and wiped when freed. OpenSSL
 * allocates everything there too (its contexts hold expanded keys), and
 * the functions here that handle raw keys wipe the stack they used. Every
 * function returns 0 or a negative errno; a failure of the random generator
 * aborts the process. */
#ifndef CMKFS_CRYPTO_CRYPTO_H
#define CMKFS_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/secmem.h"

#define CMK_KEY_LEN 32 /* CMK, DEK and every derived 256-bit key */
#define CMK_XTS_KEY_LEN 64
#define CMK_GCM_NONCE_LEN 12
#define CMK_GCM_TAG_LEN 16
#define CMK_SHA256_LEN 32
#define CMK_SIV_KEY_LEN 64 /* AES-256-SIV: CMAC key, then CTR key */
#define CMK_SIV_TAG_LEN 16

/* Must run first in every program, before anything else calls OpenSSL:
 * points OpenSSL's allocations at the locked heap (OpenSSL refuses that
 * once it has allocated) and locks the heap's first chunk. Safe to call
 * more than once. Returns 0 or -errno: -ENOMEM when memory cannot be
 * locked (RLIMIT_MEMLOCK), -EALREADY when OpenSSL allocated first. */
int cmk_crypto_init(struct cmk_err *err);

/* "OpenSSL 3.0.x ..." for --version. */
const char *cmk_crypto_version(void);

/* Zeroed, locked, never dumped. NULL when no more memory can be locked. */
void *cmk_secure_alloc(size_t len);
/* Wipes and frees; NULL is allowed. */
void cmk_secure_free(void *ptr, size_t len);
/* True when ptr lies in the locked heap (used by tests). */
bool cmk_secure_is_locked(const void *ptr);

void cmk_cleanse(void *ptr, size_t len);

/* Constant-time equality: true when equal. */
bool cmk_memeq_ct(const void *a, const void *b, size_t len);

/* Cryptographically strong random bytes; aborts on failure. */
void cmk_random(void *buf, size_t len);

int cmk_sha256(const void *data, size_t len, uint8_t out[CMK_SHA256_LEN]);

/* HKDF-SHA256 (RFC 5869) with the given salt and info string. */
int cmk_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		    size_t salt_len, const char *info, uint8_t *out,
		    size_t out_len);

int cmk_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
		    size_t len, uint8_t out[CMK_SHA256_LEN]);

/* AES-256-GCM with a 96-bit nonce and a 128-bit tag. open returns -EBADMSG
 * when the tag does not verify (wrong key or tampered data). */
int cmk_gcm_seal(const uint8_t key[CMK_KEY_LEN],
		 const uint8_t nonce[CMK_GCM_NONCE_LEN], const void *aad,
		 size_t aad_len, const uint8_t *plain, size_t len,
		 uint8_t *cipher, uint8_t tag[CMK_GCM_TAG_LEN]);
int cmk_gcm_open(const uint8_t key[CMK_KEY_LEN],
		 const uint8_t nonce[CMK_GCM_NONCE_LEN], const void *aad,
		 size_t aad_len, const uint8_t *cipher, size_t len,
		 const uint8_t tag[CMK_GCM_TAG_LEN], uint8_t *plain);

/* scrypt (RFC 7914) through OpenSSL's KDF. */
int cmk_scrypt(const void *pass, size_t pass_len, const uint8_t *salt,
	       size_t salt_len, uint64_t n, uint32_t r, uint32_t p,
	       uint8_t *out, size_t out_len);

/* Standard base64 (RFC 4648, with padding). encode writes a NUL-terminated
 * string and needs out_size >= 4 * ceil(len / 3) + 1. decode accepts
 * surrounding white space, writes at most out_size bytes and stores the
 * decoded length; -EINVAL for bad input, -EMSGSIZE when it does not fit. */
int cmk_base64_encode(const uint8_t *in, size_t len, char *out,
		      size_t out_size);
int cmk_base64_decode(const char *in, size_t in_len, uint8_t *out,
		      size_t out_size, size_t *out_len);

/* Signs data with RS256 (RSASSA-PKCS1-v1_5, SHA-256) under the RSA key in
 * pem, which also holds the key's certificate (PEM blocks, the key
 * unencrypted): a client assertion. sig gets the signature (*sig_len
 * bytes, at most sig_size), cert_sha256 the SHA-256 of the certificate's
 * DER (its x5t#S256). With data NULL only the thumbprint and the checks
 * (sig untouched): the thumbprint goes into the header that is signed.
 * -EINVAL for a PEM without an RSA key and a certificate, or a key that is
 * not the certificate's. */
int cmk_rs256_sign_pem(const char *pem, size_t pem_len, const void *data,
		       size_t len, uint8_t *sig, size_t sig_size,
		       size_t *sig_len, uint8_t cert_sha256[CMK_SHA256_LEN]);

/* AES-256-XTS for one file. The contexts are keyed once and reused for every
 * data unit; a mutex makes one object safe to share between threads. */
struct cmk_xts;

/* key: 64 bytes; -EINVAL when its two halves are equal (OpenSSL 3 refuses
 * such keys for XTS). */
int cmk_xts_new(const uint8_t key[CMK_XTS_KEY_LEN], struct cmk_xts **out);
/* Encrypts (encrypt=true) or decrypts one data unit of len >= 16 bytes with
 * the 128-bit tweak whose low 64 bits are tweak (little-endian) and whose
 * high 64 bits are zero. in and out may be the same buffer. */
int cmk_xts_crypt(struct cmk_xts *xts, bool encrypt, uint64_t tweak,
		  const uint8_t *in, uint8_t *out, size_t len);
void cmk_xts_free(struct cmk_xts *xts);

/* AES-256-SIV (RFC 5297, deterministic authenticated encryption) with one
 * associated-data string. The key is set up once; each call works on a
 * private copy of the keyed context (OpenSSL's SIV context does one
 * operation per key set-up), so one object is safe to share between
 * threads. -ENOSYS when OpenSSL lacks AES-SIV. */
struct cmk_siv;

int cmk_siv_new(const uint8_t key[CMK_SIV_KEY_LEN], struct cmk_siv **out);
/* out receives the synthetic IV (the tag, 16 bytes) then the ciphertext:
 * len + CMK_SIV_TAG_LEN bytes. aad_len and len must be at least 1 (an empty
 * string would not enter the computation at all in OpenSSL). */
int cmk_siv_encrypt(struct cmk_siv *siv, const void *aad, size_t aad_len,
		    const uint8_t *in, size_t len, uint8_t *out);
/* in is tag || ciphertext (len > CMK_SIV_TAG_LEN bytes); out receives len -
 * CMK_SIV_TAG_LEN bytes of plaintext. -EBADMSG when the tag does not verify
 * (wrong key, associated data or tampered input); out is then wiped. */
int cmk_siv_decrypt(struct cmk_siv *siv, const void *aad, size_t aad_len,
		    const uint8_t *in, size_t len, uint8_t *out);
void cmk_siv_free(struct cmk_siv *siv);

#endif
