/* SPDX-License-Identifier: MIT */
/* The per-file header parser (crypto/format.c: cmk_header_parse) on
 * anything a backing file may hold. An input of CMK_HEADER_SIZE + 1 bytes
 * is a header and a last byte that says which checksums to recompute
 * (bit 0: slot 0, bit 1: slot 1, bit 2: the pending-truncate record), so
 * that the fuzzer gets past them to the fields they cover: a hostile
 * backing store can compute an unkeyed checksum as easily. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "crypto/format.h"
#include "crypto/layout.h"

#define SLOT_SUM 224 /* a slot's checksum: SHA-256 of the bytes before */
#define PENDING_SUM 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_crypto_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[CMK_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t hdr[CMK_HEADER_SIZE], dek[CMK_KEY_LEN];
	struct cmk_header_info info;
	struct cmk_err err;
	uint64_t seq;
	int ret, slot;

	if (size == CMK_HEADER_SIZE + 1) {
		uint8_t fix = data[CMK_HEADER_SIZE];

		memcpy(hdr, data, CMK_HEADER_SIZE);
		for (int i = 0; i < CMK_SLOT_COUNT; i++)
			if (fix & (1u << i))
				cmk_sha256(hdr + CMK_SLOT_OFF(i), SLOT_SUM,
					   hdr + CMK_SLOT_OFF(i) + SLOT_SUM);
		if (fix & 4)
			cmk_sha256(hdr + CMK_PENDING_OFF, PENDING_SUM,
				   hdr + CMK_PENDING_OFF + PENDING_SUM);
		ret = cmk_header_parse(hdr, CMK_HEADER_SIZE, &info, &err);
	} else {
		ret = cmk_header_parse(data, size, &info, &err);
		if (size >= CMK_HEADER_SIZE)
			memcpy(hdr, data, CMK_HEADER_SIZE);
	}
	if (ret) {
		FUZZ_CHECK(ret == -EBADMSG || ret == -EPROTONOSUPPORT);
		FUZZ_CHECK(err.msg[0]);
		return 0;
	}
	FUZZ_CHECK(info.active >= 0 && info.active < CMK_SLOT_COUNT);
	FUZZ_CHECK(info.slots[info.active].state == CMK_SLOT_VALID);
	FUZZ_CHECK(cmk_version_id_valid(info.slots[info.active].cmk_version));
	if (info.has_pending) {
		/* What cmk_data_finish_pending() writes must lie inside the
		 * backing file of the new size. */
		const struct cmk_pending *p = &info.pending;
		uint64_t end = cmk_backing_len(p->new_size);

		FUZZ_CHECK(p->len > 0 && p->len <= CMK_PENDING_MAX);
		FUZZ_CHECK(p->new_size <= CMK_PLAIN_MAX);
		FUZZ_CHECK(p->off >= CMK_TINY_AREA_OFF);
		FUZZ_CHECK(p->off <= end && p->len <= end - p->off);
	}
	if (cmk_header_next_slot(&info, &slot, &seq) == 0) {
		FUZZ_CHECK(slot >= 0 && slot < CMK_SLOT_COUNT &&
			   slot != info.active);
		FUZZ_CHECK(seq > info.slots[info.active].seq);
	} else {
		FUZZ_CHECK(info.slots[info.active].seq == UINT64_MAX);
	}
	/* A tag made without the key does not verify. */
	FUZZ_CHECK(cmk_header_open_slot(hdr, info.active, key, dek) != 0);
	return 0;
}
