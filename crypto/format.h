/* SPDX-License-Identifier: MIT */
/* The on-disk format: the per-file header with its two key slots, and the
 * volume descriptor. docs/FORMAT.md describes every byte; keep them in step.
 * No I/O here: callers read and write the bytes. */
#ifndef CMKFS_CRYPTO_FORMAT_H
#define CMKFS_CRYPTO_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "crypto/layout.h"

#define CMK_FORMAT_VERSION 1
#define CMK_SUITE_XTS_GCM 1 /* AES-256-XTS data, AES-256-GCM key wrap */
#define CMK_ID_LEN 16	    /* volume id, file id */
#define CMK_VERSION_MAX 64  /* longest CMK version id */
#define CMK_NAME_MAX 255    /* longest CMK name */

#define CMK_SLOT_COUNT 2
#define CMK_SLOT_SIZE 256
#define CMK_SLOT_OFF(i) (64u + (unsigned)(i)*CMK_SLOT_SIZE)

#define CMK_VOLUME_FILE "cmkfs.volume"
#define CMK_VOLUME_BACKUP "cmkfs.volume.backup" /* the second copy */
/* The mount root's mode and owner (text: "MODE UID GID\n", mode in
 * octal): the cipher directory itself stays 0700 whatever is done to the
 * mount's root. */
#define CMK_VOLUME_ROOT "cmkfs.volume.root"
#define CMK_VOLUME_SIZE 4096u

/* 1-64 characters from [0-9A-Za-z._-]. */
bool cmk_version_id_valid(const char *s);

enum cmk_slot_state {
	CMK_SLOT_EMPTY,	  /* all zero: never written */
	CMK_SLOT_VALID,	  /* checksum and fields good */
	CMK_SLOT_DAMAGED, /* torn or tampered */
};

struct cmk_slot_info {
	enum cmk_slot_state state;
	uint64_t seq;
	char cmk_version[CMK_VERSION_MAX + 1];
	const char *problem; /* why DAMAGED (static string) */
};

/* A truncate in progress (header bytes 576-671, zero otherwise): the
 * file shrinks to new_size, and len bytes of ciphertext (the end of its
 * new last unit, at most 31) go to backing offset off. Written before the
 * backing file is cut and cleared after the bytes are in place, so that a
 * crash in between is finished at the next open (docs/FORMAT.md). */
#define CMK_PENDING_OFF 576u
#define CMK_PENDING_SIZE 96u
#define CMK_PENDING_MAX 32u
struct cmk_pending {
	uint64_t new_size;
	uint64_t off;
	uint8_t len;
	uint8_t bytes[CMK_PENDING_MAX];
};

/* Encodes p into the 96 bytes at out (checksummed). */
void cmk_pending_encode(const struct cmk_pending *p,
			uint8_t out[CMK_PENDING_SIZE]);

struct cmk_header_info {
	uint16_t format_version;
	uint16_t suite;
	uint32_t unit_size;
	uint32_t header_size;
	uint8_t volume_id[CMK_ID_LEN];
	uint8_t file_id[CMK_ID_LEN];
	struct cmk_slot_info slots[CMK_SLOT_COUNT];
	int active; /* valid slot with the highest sequence number */
	/* A truncate that a crash interrupted, to be finished. A damaged
	 * record (a torn write) is ignored: pending_damaged says so. */
	bool has_pending;
	bool pending_damaged;
	struct cmk_pending pending;
};

/* Parses a header. len is how many bytes the file holds (it may be shorter
 * than a header). -EBADMSG with a message for a file that is too short, has
 * foreign magic, unknown fields, non-zero reserved bytes or no valid slot;
 * -EPROTONOSUPPORT for a newer format version. */
int cmk_header_parse(const uint8_t *buf, size_t len,
		     struct cmk_header_info *info, struct cmk_err *err);

/* The file id of a header whose first len bytes are buf (the fixed part,
 * CMK_HEADER_FIXED_LEN bytes, is enough), after checking its magic and
 * that it belongs to volume_id: 0 or -EBADMSG. Not a check of the header:
 * what binds a file's extended attributes, read without unwrapping. */
#define CMK_HEADER_FIXED_LEN 64
int cmk_header_file_id(const uint8_t *buf, size_t len,
		       const uint8_t volume_id[CMK_ID_LEN],
		       uint8_t file_id[CMK_ID_LEN]);

/* Writes the fixed fields of a new header and zeroes the rest. */
void cmk_header_init(uint8_t hdr[CMK_HEADER_SIZE],
		     const uint8_t volume_id[CMK_ID_LEN],
		     const uint8_t file_id[CMK_ID_LEN]);

/* Wraps dek under cmk (version cmk_version) into slot with sequence number
 * seq. nonce NULL means a fresh random nonce (test vectors pass one). Only
 * the slot's CMK_SLOT_SIZE bytes change. */
int cmk_header_seal_slot(uint8_t hdr[CMK_HEADER_SIZE], int slot, uint64_t seq,
			 const char *cmk_version,
			 const uint8_t cmk[CMK_KEY_LEN],
			 const uint8_t dek[CMK_KEY_LEN], const uint8_t *nonce);

/* Unwraps one valid slot: -EBADMSG when the tag does not verify. */
int cmk_header_open_slot(const uint8_t hdr[CMK_HEADER_SIZE], int slot,
			 const uint8_t cmk[CMK_KEY_LEN],
			 uint8_t dek[CMK_KEY_LEN]);

/* Which slot a re-wrap writes (the one that is not active) and with which
 * sequence number (one more than any valid slot's). -EOVERFLOW when a
 * valid slot's is 2^64 - 1 already (*seq unset): no slot can be newer. */
int cmk_header_next_slot(const struct cmk_header_info *info, int *slot,
			 uint64_t *seq);

/* The 512-bit XTS key of a file: HKDF-SHA256(dek, salt = file id). -EINVAL
 * when its halves are equal (a new file then draws a new DEK). */
int cmk_xts_for_file(const uint8_t dek[CMK_KEY_LEN],
		     const uint8_t file_id[CMK_ID_LEN], struct cmk_xts **out);

/* --- volume descriptor -------------------------------------------------
 * Feature flags (descriptor bytes 20-23). A reader refuses unknown bits. */
#define CMK_VOLUME_FLAG_ENC_NAMES 0x1u /* encrypted file names */
/* Envelope: the key service wraps a random volume key (records below),
 * which seals the name key, the MAC and every file's DEK in place of a
 * CMK read from the service. Version ids in slots and the MAC-version
 * field then name volume keys ("vk1", "vk2"), not CMK versions. */
#define CMK_VOLUME_FLAG_ENVELOPE 0x2u
#define CMK_VOLUME_FLAGS_KNOWN \
	(CMK_VOLUME_FLAG_ENC_NAMES | CMK_VOLUME_FLAG_ENVELOPE)

/* Envelope records (descriptor bytes 1024-3583): the volume key as the
 * key service wrapped it. Two, so that a new volume key can replace the
 * old one while files still use it (cmkfs rewrap --volume-key). */
#define CMK_ENVELOPE_COUNT 2
#define CMK_ENVELOPE_OFF(i) (1024u + (unsigned)(i)*1280u)
#define CMK_ENVELOPE_SIZE 1280u
#define CMK_ENVELOPE_BLOB_MAX 1024
#define CMK_ENVELOPE_ALG_MAX 23

struct cmk_envelope {
	bool used;
	char vk_id[CMK_VERSION_MAX + 1];       /* the volume key's id */
	char alg[CMK_ENVELOPE_ALG_MAX + 1];    /* "RSA-OAEP-256", ... */
	char cmk_version[CMK_VERSION_MAX + 1]; /* the CMK version that
						* wrapped it */
	/* A volume key that replaced another: HMAC-SHA256 under the old one
	 * (link_from) of "cmkfs v1 volume key link" || vk_id || SHA-256 of
	 * the new key, so that a running mount adopts only a successor of a
	 * key it holds. "" and zeroes for the first volume key. */
	char link_from[CMK_VERSION_MAX + 1];
	uint8_t link[CMK_SHA256_LEN];
	uint16_t blob_len;
	uint8_t blob[CMK_ENVELOPE_BLOB_MAX]; /* as the service returned it */
};

/* The link of volume key new_key (id vk_id) from old_key. */
int cmk_envelope_link(const uint8_t old_key[CMK_KEY_LEN], const char *vk_id,
		      const uint8_t new_key[CMK_KEY_LEN],
		      uint8_t link[CMK_SHA256_LEN]);

/* The two name-key slots of a descriptor with CMK_VOLUME_FLAG_ENC_NAMES:
 * laid out like header key slots, in the reserved area. */
#define CMK_VSLOT_OFF(i) (512u + (unsigned)(i)*CMK_SLOT_SIZE)

struct cmk_volume_info {
	uint16_t format_version;
	uint16_t suite;
	uint32_t unit_size;
	uint32_t header_size;
	uint32_t flags;
	uint8_t volume_id[CMK_ID_LEN];
	char cmk_name[CMK_NAME_MAX + 1];
	char mac_version[CMK_VERSION_MAX + 1]; /* CMK version of the MAC */
	/* Filled by cmk_volume_parse(); all EMPTY and name_active -1 without
	 * CMK_VOLUME_FLAG_ENC_NAMES. Ignored by the encoders. */
	struct cmk_slot_info name_slots[CMK_SLOT_COUNT];
	int name_active; /* valid name slot with the highest sequence number */
	/* With CMK_VOLUME_FLAG_ENVELOPE: written by the encoders, filled by
	 * cmk_volume_parse(); one record's vk_id is mac_version. */
	struct cmk_envelope envelopes[CMK_ENVELOPE_COUNT];
};

/* The envelope record of volume key vk_id, or NULL. */
const struct cmk_envelope *cmk_volume_envelope(const struct cmk_volume_info *vi,
					       const char *vk_id);

/* Fills the format fields of a new volume with a random id and flags 0
 * (plaintext names); callers that want encrypted names set
 * CMK_VOLUME_FLAG_ENC_NAMES in vi->flags. */
void cmk_volume_info_new(struct cmk_volume_info *vi, const char *cmk_name,
			 const char *mac_version);

/* Writing a descriptor is three steps, in this order, because the slots'
 * associated data is the descriptor's fixed part and the MAC covers the
 * slots:
 *   1. cmk_volume_encode_fields(buf, vi)   the fields, reserved bytes zero
 *   2. cmk_volume_seal_name_slot(buf, ...) zero, one or two name slots
 *   3. cmk_volume_mac(buf, cmk)            the MAC, always last
 * Step 1 keeps the 512 bytes of the name slots when vi->flags has
 * CMK_VOLUME_FLAG_ENC_NAMES (and zeroes them otherwise), so a re-MAC or a
 * re-wrap starts from a copy of the current descriptor. Typical uses:
 *  - new volume: cmk_volume_create();
 *  - new MAC version (rotation): copy the descriptor into buf, set
 *    vi.mac_version, encode_fields, seal the name key into the slot and
 *    sequence number given by cmk_volume_next_name_slot() under the new
 *    version, then mac with the new version's CMK. */

/* Step 1: writes every byte but the name slots and the MAC (which becomes
 * zero). -EINVAL for a malformed key name or version, or unknown flags. */
int cmk_volume_encode_fields(uint8_t buf[CMK_VOLUME_SIZE],
			     const struct cmk_volume_info *vi);
/* Step 2: wraps the 32-byte name key under cmk (version cmk_version) into
 * name slot `slot` with sequence number seq. nonce NULL means a fresh
 * random nonce (test vectors pass one). Only the slot's bytes change; buf's
 * fields must be written already (-EINVAL unless it holds a descriptor with
 * CMK_VOLUME_FLAG_ENC_NAMES). */
int cmk_volume_seal_name_slot(uint8_t buf[CMK_VOLUME_SIZE], int slot,
			      uint64_t seq, const char *cmk_version,
			      const uint8_t cmk[CMK_KEY_LEN],
			      const uint8_t name_key[CMK_KEY_LEN],
			      const uint8_t *nonce);
/* Step 3: MACs bytes 0-4063 under cmk, which must be the CMK of the version
 * named in buf's MAC-version field. -EINVAL, and no MAC, when buf would not
 * parse (e.g. names encrypted but no valid name slot): a descriptor that
 * cannot be read is never produced. */
int cmk_volume_mac(uint8_t buf[CMK_VOLUME_SIZE],
		   const uint8_t cmk[CMK_KEY_LEN]);
/* Steps 1 and 3: the whole descriptor when names are not encrypted, or a
 * new MAC over the slots already in buf when they are. */
int cmk_volume_encode(uint8_t buf[CMK_VOLUME_SIZE],
		      const struct cmk_volume_info *vi,
		      const uint8_t cmk[CMK_KEY_LEN]);
/* A new volume's descriptor: fields; with CMK_VOLUME_FLAG_ENC_NAMES,
 * name_key sealed into slot 0 with sequence number 1 under
 * vi->mac_version (slot 1 empty); the MAC. name_key may be NULL without
 * the flag. */
int cmk_volume_create(uint8_t buf[CMK_VOLUME_SIZE],
		      const struct cmk_volume_info *vi,
		      const uint8_t cmk[CMK_KEY_LEN], const uint8_t *name_key);

/* Structural checks only (no key): -EBADMSG for a damaged descriptor
 * (including encrypted names without a valid name slot, or non-zero slot
 * bytes without them), -EPROTONOSUPPORT for a newer format version or
 * unknown flags. Damaged name slots next to a valid one are reported in
 * vi->name_slots, not refused (a torn re-wrap). */
int cmk_volume_parse(const uint8_t *buf, size_t len, struct cmk_volume_info *vi,
		     struct cmk_err *err);
/* Checks the MAC: -EKEYREJECTED when cmk is not the volume's key. Readers
 * parse, verify, and only then open the active name slot. */
int cmk_volume_verify(const uint8_t buf[CMK_VOLUME_SIZE],
		      const uint8_t cmk[CMK_KEY_LEN]);

/* Unwraps the name key from one valid name slot (a reader opens
 * vi->name_active only, for the reason header slots are: revoking the
 * newer CMK version must revoke the names). -EBADMSG when the tag does not
 * verify (wrong key or tampered descriptor). */
int cmk_volume_open_name_slot(const uint8_t buf[CMK_VOLUME_SIZE], int slot,
			      const uint8_t cmk[CMK_KEY_LEN],
			      uint8_t name_key[CMK_KEY_LEN]);
/* Which name slot a re-wrap writes (the one that is not active) and with
 * which sequence number (one more than any valid slot's); slot 0 and 1
 * when there is no valid slot. -EOVERFLOW as cmk_header_next_slot(). */
int cmk_volume_next_name_slot(const struct cmk_volume_info *vi, int *slot,
			      uint64_t *seq);

#endif
