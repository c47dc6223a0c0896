/* SPDX-License-Identifier: MIT */
/* Per-thread scratch buffers for the data path: a FUSE worker reuses its
 * buffers from request to request instead of allocating (and faulting in)
 * up to a MiB per request. Freed when the thread ends. */
#ifndef CMKFS_COMMON_TBUF_H
#define CMKFS_COMMON_TBUF_H

#include <stddef.h>
#include <stdint.h>

enum cmk_tbuf_slot {
	CMK_TBUF_REPLY = 0, /* fs: a read's reply */
	CMK_TBUF_UNITS,	    /* crypto/filedata.c: units being written */
	CMK_TBUF_READ,	    /* crypto/filedata.c: units being read (also
			     * while the units being written wait) */
	CMK_TBUF_SLOTS,
};

/* This thread's buffer of slot, at least len bytes; NULL when out of
 * memory. Valid until the next call for the same slot on this thread. */
uint8_t *cmk_tbuf(enum cmk_tbuf_slot slot, size_t len);

#endif
