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
#define CMK_SLOT_OFF(i) (64u + (unsigned)(i) * CMK_SLOT_SIZE)

#define CMK_VOLUME_FILE "cmkfs.volume"
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

struct cmk_header_info {
	uint16_t format_version;
	uint16_t suite;
	uint32_t unit_size;
	uint32_t header_size;
	uint8_t volume_id[CMK_ID_LEN];
	uint8_t file_id[CMK_ID_LEN];
	struct cmk_slot_info slots[CMK_SLOT_COUNT];
	int active; /* valid slot with the highest sequence number */
};

/* Parses a header. len is how many bytes the file holds (it may be shorter
 * than a header). -EBADMSG with a message for a file that is too short, has
 * foreign magic, unknown fields, non-zero reserved bytes or no valid slot;
 * -EPROTONOSUPPORT for a newer format version. */
int cmk_header_parse(const uint8_t *buf, size_t len,
		     struct cmk_header_info *info, struct cmk_err *err);

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
			 const uint8_t dek[CMK_KEY_LEN],
			 const uint8_t *nonce);

/* Unwraps one valid slot: -EBADMSG when the tag does not verify. */
int cmk_header_open_slot(const uint8_t hdr[CMK_HEADER_SIZE], int slot,
			 const uint8_t cmk[CMK_KEY_LEN],
			 uint8_t dek[CMK_KEY_LEN]);

/* Which slot a re-wrap writes (the one that is not active) and with which
 * sequence number (one more than any valid slot's). */
void cmk_header_next_slot(const struct cmk_header_info *info, int *slot,
			  uint64_t *seq);

/* The 512-bit XTS key of a file: HKDF-SHA256(dek, salt = file id). -EINVAL
 * when its halves are equal (a new file then draws a new DEK). */
int cmk_xts_for_file(const uint8_t dek[CMK_KEY_LEN],
		     const uint8_t file_id[CMK_ID_LEN], struct cmk_xts **out);

/* --- volume descriptor ------------------------------------------------- */
struct cmk_volume_info {
	uint16_t format_version;
	uint16_t suite;
	uint32_t unit_size;
	uint32_t header_size;
	uint32_t flags;
	uint8_t volume_id[CMK_ID_LEN];
	char cmk_name[CMK_NAME_MAX + 1];
	char mac_version[CMK_VERSION_MAX + 1]; /* CMK version of the MAC */
};

/* Fills the format fields of a new volume with a random id. */
void cmk_volume_info_new(struct cmk_volume_info *vi, const char *cmk_name,
			 const char *mac_version);
/* Encodes and MACs a descriptor under cmk (version vi->mac_version). */
int cmk_volume_encode(uint8_t buf[CMK_VOLUME_SIZE],
		      const struct cmk_volume_info *vi,
		      const uint8_t cmk[CMK_KEY_LEN]);
/* Structural checks only (no key): -EBADMSG / -EPROTONOSUPPORT. */
int cmk_volume_parse(const uint8_t *buf, size_t len,
		     struct cmk_volume_info *vi, struct cmk_err *err);
/* Checks the MAC: -EKEYREJECTED when cmk is not the volume's key. */
int cmk_volume_verify(const uint8_t buf[CMK_VOLUME_SIZE],
		      const uint8_t cmk[CMK_KEY_LEN]);

#endif
