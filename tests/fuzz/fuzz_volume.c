/* SPDX-License-Identifier: MIT */
/* The volume descriptor parser (crypto/format.c: cmk_volume_parse), then
 * the MAC check and the name slot under a fixed key, on anything
 * cmkfs.volume may hold. An input of CMK_VOLUME_SIZE + 1 bytes is a
 * descriptor and a last byte that says which name-slot checksums to
 * recompute (bit 0: slot 0, bit 1: slot 1), so that the fuzzer gets past
 * them. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "crypto/format.h"

#define SLOT_SUM 224

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
	uint8_t buf[CMK_VOLUME_SIZE], name_key[CMK_KEY_LEN];
	struct cmk_volume_info vi;
	struct cmk_err err;
	uint64_t seq;
	int ret, slot;

	if (size == CMK_VOLUME_SIZE + 1) {
		uint8_t fix = data[CMK_VOLUME_SIZE];

		memcpy(buf, data, CMK_VOLUME_SIZE);
		for (int i = 0; i < CMK_SLOT_COUNT; i++)
			if (fix & (1u << i))
				cmk_sha256(buf + CMK_VSLOT_OFF(i), SLOT_SUM,
					   buf + CMK_VSLOT_OFF(i) + SLOT_SUM);
		ret = cmk_volume_parse(buf, CMK_VOLUME_SIZE, &vi, &err);
	} else {
		ret = cmk_volume_parse(data, size, &vi, &err);
		if (size == CMK_VOLUME_SIZE)
			memcpy(buf, data, CMK_VOLUME_SIZE);
	}
	if (ret) {
		FUZZ_CHECK(ret == -EBADMSG || ret == -EPROTONOSUPPORT);
		FUZZ_CHECK(err.msg[0]);
		return 0;
	}
	FUZZ_CHECK(vi.cmk_name[0] && strlen(vi.cmk_name) <= CMK_NAME_MAX);
	FUZZ_CHECK(cmk_version_id_valid(vi.mac_version));
	FUZZ_CHECK(!(vi.flags & ~CMK_VOLUME_FLAGS_KNOWN));
	/* A MAC made without the key does not verify. */
	FUZZ_CHECK(cmk_volume_verify(buf, key) == -EKEYREJECTED);
	if (vi.flags & CMK_VOLUME_FLAG_ENC_NAMES) {
		FUZZ_CHECK(vi.name_active >= 0 &&
			   vi.name_active < CMK_SLOT_COUNT);
		FUZZ_CHECK(cmk_volume_open_name_slot(buf, vi.name_active, key,
						     name_key) != 0);
		if (cmk_volume_next_name_slot(&vi, &slot, &seq) == 0)
			FUZZ_CHECK(slot != vi.name_active &&
				   seq > vi.name_slots[vi.name_active].seq);
		else
			FUZZ_CHECK(vi.name_slots[vi.name_active].seq ==
				   UINT64_MAX);
	} else {
		FUZZ_CHECK(vi.name_active == -1);
	}
	/* Re-encoding the fields of what parsed gives the same bytes. */
	{
		uint8_t again[CMK_VOLUME_SIZE];

		memcpy(again, buf, sizeof(again));
		FUZZ_CHECK(cmk_volume_encode_fields(again, &vi) == 0);
		FUZZ_CHECK(memcmp(again, buf,
				  CMK_VOLUME_SIZE - CMK_SHA256_LEN) == 0);
	}
	return 0;
}
