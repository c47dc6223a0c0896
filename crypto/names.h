/* SPDX-License-Identifier: MIT */
/* Encrypted file names, symlink targets and extended attributes (volumes with
 * CMK_VOLUME_FLAG_ENC_NAMES). docs/FORMAT.md "Encrypted names" describes
 * every byte; keep them in step. No I/O here: the FUSE layer reads the
 * directory ids and long-name side files and passes their bytes in.
 *
 * A name is encrypted with AES-256-SIV under a key derived from the
 * volume's name key, bound to its directory by the directory's random id,
 * and stored as unpadded base64url. SIV is deterministic, so a lookup
 * encrypts the name and opens the result: no directory scan. */
#ifndef CMKFS_CRYPTO_NAMES_H
#define CMKFS_CRYPTO_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "crypto/format.h"

/* Plaintext names: 1-255 bytes, any byte but '/' and NUL, not "." or "..".
 * Their encoding: base64url(tag(16) || ciphertext(len)), no padding. */
#define CMK_NAME_PLAIN_MAX 255
#define CMK_NAME_ENC_MIN 23  /* encoding of a 1-byte name */
#define CMK_NAME_ENC_MAX 362 /* encoding of a 255-byte name */
/* The backing file system's NAME_MAX: longer encodings are stored under a
 * long name (below). Plaintext names up to CMK_NAME_SHORT_MAX bytes are
 * always stored under their encoding. */
#define CMK_NAME_BACKING_MAX 255
#define CMK_NAME_SHORT_MAX 175

/* Every backing directory holds CMK_DIRID_FILE: exactly CMK_DIRID_LEN
 * random bytes, the associated data of the names in that directory. */
#define CMK_DIRID_FILE "cmkfs.dirid"
#define CMK_DIRID_LEN 16

/* A long name: CMK_LONG_PREFIX + base64url(SHA-256(encoding)), 54 bytes,
 * with a side file of that name + CMK_LONG_SUFFIX (59 bytes) holding the
 * whole encoding (no newline). */
#define CMK_LONG_PREFIX "cmkfs.long."
#define CMK_LONG_SUFFIX ".name"
#define CMK_LONG_LEN 54
#define CMK_LONG_SIDE_LEN 59

/* Symlink targets: 1-CMK_SYMLINK_PLAIN_MAX bytes (PATH_MAX - 1), no NUL.
 * Their encoding, base64url(nonce(16) || tag(16) || ciphertext), is at
 * most CMK_SYMLINK_ENC_MAX bytes. An encoding of up to
 * CMK_SYMLINK_INLINE_MAX bytes (targets up to CMK_SYMLINK_INLINE_PLAIN)
 * is the backing symlink's target; a longer one lives in a side file in
 * the cipher directory, and the backing symlink's target is its marker:
 * CMK_SYMLINK_MARKER_PREFIX, the target's length in 4 decimal digits, ".",
 * base64url(SHA-256(encoding)). The marker's 57 bytes are a length no
 * encoding has (base64url lengths are never 1 mod 4). */
#define CMK_SYMLINK_NONCE_LEN 16
#define CMK_SYMLINK_PLAIN_MAX 4095
#define CMK_SYMLINK_INLINE_PLAIN 3039
#define CMK_SYMLINK_ENC_MIN 44
#define CMK_SYMLINK_INLINE_MAX 4095
#define CMK_SYMLINK_ENC_MAX 5503
#define CMK_SYMLINK_MARKER_PREFIX "cmkfs.lt."
#define CMK_SYMLINK_MARKER_LEN 57

/* The volume's name cipher. Thread-safe: one object serves every thread. */
struct cmk_names;

/* Derives the SIV key, HKDF-SHA256(name_key, salt = volume id, info
 * "cmkfs v1 name siv key"), and keys the cipher with it. The derived key
 * is wiped once OpenSSL holds it (like an XTS key, in memory that is
 * wiped when freed). -ENOSYS when OpenSSL lacks AES-SIV. */
int cmk_names_new(const uint8_t name_key[CMK_KEY_LEN],
		  const uint8_t volume_id[CMK_ID_LEN], struct cmk_names **out);
void cmk_names_free(struct cmk_names *names);

/* True for a valid plaintext name of len bytes. */
bool cmk_name_valid(const char *name, size_t len);

/* Encrypts name (len bytes, not NUL-terminated) for the directory dirid.
 * Writes the NUL-terminated encoding to out and returns its length (23 to
 * 362); -EINVAL for an invalid name, -ENAMETOOLONG for a name longer than
 * 255 bytes or when out_size cannot hold the encoding and its NUL
 * (CMK_NAME_ENC_MAX + 1 always can). */
int cmk_name_encrypt(struct cmk_names *names,
		     const uint8_t dirid[CMK_DIRID_LEN], const char *name,
		     size_t len, char *out, size_t out_size);
/* The reverse: enc is an encoding of enc_len bytes (not NUL-terminated).
 * Writes the NUL-terminated name to out and returns its length; -EBADMSG
 * for anything that is not an encoding made by this volume for this
 * directory (bad base64url, padding, non-canonical bits, wrong length,
 * failed tag, invalid plaintext name), -ENAMETOOLONG when out_size cannot
 * hold the name and its NUL (CMK_NAME_PLAIN_MAX + 1 always can). */
int cmk_name_decrypt(struct cmk_names *names,
		     const uint8_t dirid[CMK_DIRID_LEN], const char *enc,
		     size_t enc_len, char *out, size_t out_size);

/* The long name of an encoding longer than CMK_NAME_BACKING_MAX bytes:
 * writes CMK_LONG_LEN bytes and a NUL to out; returns CMK_LONG_LEN, or
 * -EINVAL for an encoding short enough to be stored as it is (each name
 * has one backing name). */
int cmk_name_long_backing(const char *enc, size_t enc_len,
			  char out[CMK_LONG_LEN + 1]);
/* True when backing is a long name (the prefix and 43 base64url
 * characters, nothing else). */
bool cmk_name_is_long(const char *backing);
/* Checks that enc, read from backing's side file, belongs to it: 0, or
 * -EBADMSG (a side file that was swapped, edited or torn). */
int cmk_name_long_check(const char *backing, const char *enc, size_t enc_len);

/* Where a name lives in its backing directory. */
struct cmk_backing_name {
	char enc[CMK_NAME_ENC_MAX + 1]; /* the encoding, NUL-terminated */
	size_t enc_len;
	/* The directory entry: the encoding itself, or its long name. */
	char name[CMK_NAME_BACKING_MAX + 1];
	size_t len;
	bool is_long;
	/* For a long name, its side file (name + CMK_LONG_SUFFIX), which
	 * holds enc; empty otherwise. */
	char side[CMK_LONG_SIDE_LEN + 1];
};

/* cmk_name_encrypt(), then the backing names; same errors. */
int cmk_name_to_backing(struct cmk_names *names,
			const uint8_t dirid[CMK_DIRID_LEN], const char *name,
			size_t len, struct cmk_backing_name *out);

/* True for the backing names that are not entries and are hidden from
 * listings: every name that begins with "cmkfs." except long names, that
 * is CMK_DIRID_FILE, the side files of long names, and, in the root,
 * CMK_VOLUME_FILE and its temporary files. Encodings never contain '.', so
 * no plaintext name maps onto these (and no name has to be refused). "."
 * and ".." are not special: the caller handles them as usual. */
bool cmk_name_is_special(const char *backing);

/* Encrypts a symlink target of len bytes (1-CMK_SYMLINK_PLAIN_MAX, no NUL)
 * with a random nonce (nonce NULL; test vectors pass one). Writes the
 * NUL-terminated encoding to out and returns its length; -EINVAL for an
 * empty target or one with a NUL, -ENAMETOOLONG for a longer target or
 * when out_size cannot hold the encoding and its NUL
 * (CMK_SYMLINK_ENC_MAX + 1 always can). */
int cmk_symlink_encrypt(struct cmk_names *names, const char *target, size_t len,
			const uint8_t *nonce, char *out, size_t out_size);
/* The reverse; -EBADMSG for anything tampered or foreign, -ENAMETOOLONG
 * when out_size cannot hold the target and its NUL
 * (CMK_SYMLINK_PLAIN_MAX + 1 always can). */
int cmk_symlink_decrypt(struct cmk_names *names, const char *enc,
			size_t enc_len, char *out, size_t out_size);
/* The length of the target that an encoding of enc_len bytes holds (for
 * st_size, from lstat of the backing symlink, without reading it), or
 * -EBADMSG for a length no encoding has. */
int cmk_symlink_plain_len(size_t enc_len);
/* The marker of an encoding longer than CMK_SYMLINK_INLINE_MAX, into out
 * (NUL-terminated): CMK_SYMLINK_MARKER_LEN; -EINVAL for a shorter one. */
int cmk_symlink_marker(const char *enc, size_t enc_len,
		       char out[CMK_SYMLINK_MARKER_LEN + 1]);
/* The target length a marker of len bytes states (CMK_SYMLINK_INLINE_PLAIN
 * + 1 to CMK_SYMLINK_PLAIN_MAX), or -EBADMSG when it is no marker. */
int cmk_symlink_marker_plain_len(const char *marker, size_t len);
/* 0 when enc (a side file's contents) is the encoding that marker names:
 * its hash, its length and the length the marker states; else -EBADMSG. */
int cmk_symlink_marker_check(const char *marker, const char *enc,
			     size_t enc_len);

/* Extended attributes (docs/FORMAT.md "Extended attributes"). Only the
 * user namespace is stored. An attribute belongs to one object, whose
 * 16-byte binding is the associated data of its name and value: a regular
 * file's header file id, a directory's id. A name "user." || n (n: 1 to
 * CMK_XATTR_NAME_PLAIN_MAX bytes, no NUL) is stored as
 *   "user." || base64url(AES-SIV(AAD = "xattr-name" || bind, n))
 * deterministically, so that a get encrypts the name it is asked for. A
 * value v is stored as the raw bytes
 *   nonce(16) || AES-SIV(AAD = "xattr-value" || bind || nonce || name,
 *                        0x01 || v)
 * (name: the whole plaintext name, "user." included), CMK_XATTR_OVERHEAD
 * bytes longer than v. */
#define CMK_XATTR_BIND_LEN 16
#define CMK_XATTR_PREFIX "user."
#define CMK_XATTR_PREFIX_LEN 5
/* The longest n whose backing name fits XATTR_NAME_MAX (255). */
#define CMK_XATTR_NAME_PLAIN_MAX 171
#define CMK_XATTR_NAME_MAX (CMK_XATTR_PREFIX_LEN + CMK_XATTR_NAME_PLAIN_MAX)
#define CMK_XATTR_NAME_ENC_MIN 28  /* backing name of a 1-byte n */
#define CMK_XATTR_NAME_ENC_MAX 255 /* of a 171-byte n */
#define CMK_XATTR_NONCE_LEN 16
#define CMK_XATTR_OVERHEAD 33
/* The longest value whose encryption fits XATTR_SIZE_MAX (65536). */
#define CMK_XATTR_VALUE_MAX (65536 - CMK_XATTR_OVERHEAD)

/* True when name is in the user namespace ("user." and at least one more
 * byte). */
bool cmk_xattr_is_user(const char *name);
/* Encrypts the NUL-terminated name for the object bind. Writes the
 * NUL-terminated backing name to out and returns its length; -EOPNOTSUPP
 * for a name outside the user namespace, -EINVAL for "user." alone,
 * -ERANGE for a name longer than CMK_XATTR_NAME_MAX or when out_size cannot
 * hold the backing name and its NUL (CMK_XATTR_NAME_ENC_MAX + 1 always
 * can). */
int cmk_xattr_name_encrypt(struct cmk_names *names,
			   const uint8_t bind[CMK_XATTR_BIND_LEN],
			   const char *name, char *out, size_t out_size);
/* The reverse, for a NUL-terminated backing name: writes the
 * NUL-terminated plaintext name and returns its length; -EBADMSG for
 * anything this volume did not make for this object (another namespace,
 * bad base64url, failed tag, a NUL in the name), -ERANGE when out_size
 * cannot hold the name and its NUL (CMK_XATTR_NAME_MAX + 1 always can). */
int cmk_xattr_name_decrypt(struct cmk_names *names,
			   const uint8_t bind[CMK_XATTR_BIND_LEN],
			   const char *backing, char *out, size_t out_size);
/* Encrypts value (len bytes, 0 to CMK_XATTR_VALUE_MAX) of the attribute
 * name (NUL-terminated, plaintext) of the object bind, with a random
 * nonce (nonce NULL; test vectors pass one). Writes len +
 * CMK_XATTR_OVERHEAD bytes to out and returns that count; -E2BIG for a
 * longer value, -ERANGE when out_size is too small. */
int cmk_xattr_value_encrypt(struct cmk_names *names,
			    const uint8_t bind[CMK_XATTR_BIND_LEN],
			    const char *name, const void *value, size_t len,
			    const uint8_t *nonce, uint8_t *out,
			    size_t out_size);
/* The reverse: writes the value (enc_len - CMK_XATTR_OVERHEAD bytes) to
 * out and returns its length; -EBADMSG for a value that is too short,
 * tampered, or made for another name, object or volume; -ERANGE when
 * out_size is too small (out untouched). */
int cmk_xattr_value_decrypt(struct cmk_names *names,
			    const uint8_t bind[CMK_XATTR_BIND_LEN],
			    const char *name, const uint8_t *enc,
			    size_t enc_len, void *out, size_t out_size);
/* The value length that a stored value of enc_len bytes holds, or
 * -EBADMSG for a length no stored value has. */
int cmk_xattr_value_plain_len(size_t enc_len);

#endif
