/* SPDX-License-Identifier: MIT */
/* The unit arithmetic of crypto/layout.c, checked against rules stated
 * independently here. */
#include "crypto/layout.h"
#include "check.h"

/* Every plaintext byte belongs to exactly one unit, units are contiguous
 * and in order, each is 16..4111 bytes of ciphertext, and only the last
 * one may differ from 4096 bytes of plaintext. */
static void check_size(uint64_t size)
{
	uint64_t count = cmk_unit_count(size);
	uint64_t next = 0;
	struct cmk_unit unit;

	CHECK_EQ_INT(cmk_backing_len(size), size + 4096);
	CHECK_EQ_INT(cmk_plain_size(size + 4096), size);
	for (uint64_t i = 0; i < count; i++) {
		cmk_unit_get(size, i, &unit);
		CHECK_EQ_INT(unit.index, i);
		CHECK_EQ_INT(unit.plain_off, next);
		CHECK(unit.backing_len >= 16 && unit.backing_len <= 4111);
		if (i + 1 < count)
			CHECK_EQ_INT(unit.plain_len, 4096);
		if (unit.tiny) {
			CHECK(size < 16);
			CHECK_EQ_INT(unit.backing_off, 4080);
			CHECK_EQ_INT(unit.backing_len, size + 16);
			CHECK_EQ_INT(unit.tweak, UINT64_MAX);
		} else {
			CHECK_EQ_INT(unit.backing_off, 4096 + unit.plain_off);
			CHECK_EQ_INT(unit.backing_len, unit.plain_len);
			CHECK_EQ_INT(unit.tweak, i);
		}
		next += unit.plain_len;
	}
	CHECK_EQ_INT(next, size);
	/* cmk_unit_index agrees with the units' extents. */
	for (uint64_t off = size > 40 ? size - 40 : 0; off < size; off++) {
		cmk_unit_get(size, cmk_unit_index(size, off), &unit);
		CHECK(off >= unit.plain_off &&
		      off < unit.plain_off + unit.plain_len);
	}
}

int main(void)
{
	struct cmk_unit unit;

	CHECK_EQ_INT(cmk_unit_count(0), 0);
	CHECK_EQ_INT(cmk_plain_size(4095), -1);
	for (uint64_t size = 0; size <= 3 * 4096 + 17; size++)
		check_size(size);
	/* A large file: the last units only. */
	uint64_t big = (UINT64_C(1) << 40) + 7;
	CHECK_EQ_INT(cmk_unit_count(big), (UINT64_C(1) << 40) / 4096);
	cmk_unit_get(big, cmk_unit_count(big) - 1, &unit);
	CHECK_EQ_INT(unit.plain_len, 4103);
	CHECK_EQ_INT(unit.backing_off + unit.backing_len, 4096 + big);

	/* The short-tail cases, spelled out. */
	CHECK_EQ_INT(cmk_unit_count(15), 1); /* tiny */
	CHECK_EQ_INT(cmk_unit_count(16), 1);
	CHECK_EQ_INT(cmk_unit_count(4096), 1);
	CHECK_EQ_INT(cmk_unit_count(4097), 1); /* merged: 4097 bytes */
	cmk_unit_get(4111, 0, &unit);
	CHECK_EQ_INT(unit.plain_len, 4111);
	CHECK_EQ_INT(cmk_unit_count(4112), 2); /* 4096 + 16 */
	cmk_unit_get(4112, 1, &unit);
	CHECK_EQ_INT(unit.plain_len, 16);
	CHECK_EQ_INT(cmk_unit_count(8205), 2); /* 4096 + 4109 */
	cmk_unit_get(8205, 1, &unit);
	CHECK_EQ_INT(unit.plain_len, 4109);
	CHECK_EQ_INT(cmk_unit_index(4100, 4099), 0);
	return check_exit();
}
