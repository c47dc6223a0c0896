/* SPDX-License-Identifier: MIT */
/* The record of the mount root's mode and owner, cmkfs.volume.root
 * (fs/volume.c: cmk_volume_parse_root), on anything the backing store may
 * hold: what parses is in range and reads back the same once written the
 * way cmk_volume_write_root() writes it. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "fs/volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmk_root_attr a, b;
	char text[64];
	int n;

	/* cmk_volume_read_root() reads at most 95 bytes; longer is fine. */
	if (cmk_volume_parse_root((const char *)data, size, &a) != 0)
		return 0;
	FUZZ_CHECK((a.mode & ~07777u) == 0);
	FUZZ_CHECK(memchr(data, '-', size) == NULL);
	FUZZ_CHECK(memchr(data, '+', size) == NULL);
	n = snprintf(text, sizeof(text), "%04o %u %u\n",
		     (unsigned)(a.mode & 07777), (unsigned)a.uid,
		     (unsigned)a.gid);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
	FUZZ_CHECK(cmk_volume_parse_root(text, (size_t)n, &b) == 0);
	FUZZ_CHECK(a.mode == b.mode && a.uid == b.uid && a.gid == b.gid);
	return 0;
}
