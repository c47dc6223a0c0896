/* SPDX-License-Identifier: MIT */
/* Where each data unit of a file lies: pure arithmetic, no I/O, no keys.
 * docs/FORMAT.md "Data units" describes the same rules in prose.
 *
 * A file of plaintext size P is stored as a 4096-byte header followed by P
 * bytes of ciphertext (XTS preserves length), so P = backing length - 4096.
 * The plaintext is cut into 4096-byte units; unit i starts at i * 4096 and
 * is encrypted with tweak i. XTS needs at least 16 bytes, so:
 *  - a last unit of 16..4095 bytes is encrypted as it is (a "tail");
 *  - a last piece of 1..15 bytes is merged into the unit before it, which
 *    then holds 4097..4111 bytes;
 *  - a file of 1..15 bytes has one "tiny" unit that starts 16 bytes before
 *    the end of the header (those 16 bytes hold zeros as plaintext) and is
 *    encrypted with tweak CMK_TINY_TWEAK. */
#ifndef CMKFS_CRYPTO_LAYOUT_H
#define CMKFS_CRYPTO_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#define CMK_HEADER_SIZE 4096u
#define CMK_UNIT_SIZE 4096u
#define CMK_XTS_MIN 16u
#define CMK_TINY_AREA_LEN 16u
#define CMK_TINY_AREA_OFF (CMK_HEADER_SIZE - CMK_TINY_AREA_LEN)
#define CMK_TINY_TWEAK UINT64_MAX
/* Longest unit: a full unit with a merged 15-byte piece. */
#define CMK_UNIT_MAX (CMK_UNIT_SIZE + CMK_XTS_MIN - 1)
/* Largest plaintext size; keeps every offset computation inside int64. */
#define CMK_PLAIN_MAX ((uint64_t)INT64_MAX - CMK_HEADER_SIZE - CMK_UNIT_SIZE)

struct cmk_unit {
	uint64_t index;	      /* unit number */
	uint64_t plain_off;   /* first plaintext byte it holds */
	uint32_t plain_len;   /* plaintext bytes it holds */
	uint64_t backing_off; /* where its ciphertext starts in the file */
	uint32_t backing_len; /* ciphertext bytes (plain_len, +16 if tiny) */
	uint64_t tweak;
	bool tiny;
};

/* Backing file length for plaintext size plain_size. */
uint64_t cmk_backing_len(uint64_t plain_size);
/* Where plaintext byte plain_off of a file of units lies in the backing
 * file, for ranges that are not encrypted yet (fallocate): after the
 * header. */
uint64_t cmk_backing_off(uint64_t plain_off);
/* Plaintext size of a backing file; -1 when it is shorter than a header. */
int64_t cmk_plain_size(uint64_t backing_len);

/* Number of units of a file of plain_size bytes. */
uint64_t cmk_unit_count(uint64_t plain_size);
/* The unit that holds plaintext byte off (off < plain_size). */
uint64_t cmk_unit_index(uint64_t plain_size, uint64_t off);
/* Unit index (< cmk_unit_count(plain_size)) of a file of plain_size. */
void cmk_unit_get(uint64_t plain_size, uint64_t index, struct cmk_unit *unit);

#endif
