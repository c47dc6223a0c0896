/* SPDX-License-Identifier: MIT */
#include "crypto/layout.h"

uint64_t cmk_backing_len(uint64_t plain_size)
{
	return CMK_HEADER_SIZE + plain_size;
}

uint64_t cmk_backing_off(uint64_t plain_off)
{
	return plain_off + CMK_HEADER_SIZE;
}

int64_t cmk_plain_size(uint64_t backing_len)
{
	if (backing_len < CMK_HEADER_SIZE)
		return -1;
	return (int64_t)(backing_len - CMK_HEADER_SIZE);
}

uint64_t cmk_unit_count(uint64_t plain_size)
{
	uint64_t full = plain_size / CMK_UNIT_SIZE;
	uint64_t rest = plain_size % CMK_UNIT_SIZE;

	if (plain_size == 0)
		return 0;
	if (plain_size < CMK_XTS_MIN)
		return 1; /* tiny */
	if (rest == 0)
		return full;
	if (rest < CMK_XTS_MIN)
		return full; /* the short piece merges into the last full unit
			      */
	return full + 1;
}

uint64_t cmk_unit_index(uint64_t plain_size, uint64_t off)
{
	uint64_t count = cmk_unit_count(plain_size);
	uint64_t index = off / CMK_UNIT_SIZE;

	return index < count ? index : count - 1;
}

void cmk_unit_get(uint64_t plain_size, uint64_t index, struct cmk_unit *unit)
{
	uint64_t count = cmk_unit_count(plain_size);
	uint64_t end;

	unit->index = index;
	if (plain_size < CMK_XTS_MIN) {
		unit->plain_off = 0;
		unit->plain_len = (uint32_t)plain_size;
		unit->backing_off = CMK_TINY_AREA_OFF;
		unit->backing_len = (uint32_t)plain_size + CMK_TINY_AREA_LEN;
		unit->tweak = CMK_TINY_TWEAK;
		unit->tiny = true;
		return;
	}
	unit->plain_off = index * CMK_UNIT_SIZE;
	end = index + 1 == count ? plain_size : unit->plain_off + CMK_UNIT_SIZE;
	unit->plain_len = (uint32_t)(end - unit->plain_off);
	unit->backing_off = CMK_HEADER_SIZE + unit->plain_off;
	unit->backing_len = unit->plain_len;
	unit->tweak = index;
	unit->tiny = false;
}
