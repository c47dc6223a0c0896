/* SPDX-License-Identifier: MIT */
/* See filedata.h. The unit arithmetic is in layout.c; this file only moves
 * bytes between the backing file and the cipher. */
#include "crypto/filedata.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/tbuf.h"
#include "crypto/format.h"
#include "crypto/layout.h"

static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the file shrank under us */
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	/* Word-at-a-time would be faster; the compiler vectorizes this. */
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

int cmk_data_size(int fd, uint64_t *plain_size)
{
	struct stat st;
	int64_t size;

	if (fstat(fd, &st) != 0)
		return -errno;
	size = cmk_plain_size((uint64_t)st.st_size);
	if (size < 0)
		return -EBADMSG;
	*plain_size = (uint64_t)size;
	return 0;
}

/* Decrypts one unit's ciphertext in place; a hole stays zeros. Afterwards
 * the unit's plaintext starts at cipher + (tiny ? 16 : 0). */
static int unit_decrypt(struct cmk_xts *xts, const struct cmk_unit *unit,
			uint8_t *cipher)
{
	if (all_zero(cipher, unit->backing_len))
		return 0;
	return cmk_xts_crypt(xts, false, unit->tweak, cipher, cipher,
			     unit->backing_len);
}

static size_t unit_plain_skip(const struct cmk_unit *unit)
{
	return unit->tiny ? CMK_TINY_AREA_LEN : 0;
}

/* Reads plaintext [off, off + len) of a file whose size is size (the
 * caller clipped the range to it). */
static int read_plain(int fd, struct cmk_xts *xts, uint64_t size, uint8_t *buf,
		      size_t len, uint64_t off)
{
	struct cmk_unit first, last, unit;
	uint64_t index, start;
	size_t span;
	uint8_t *tmp;
	int ret;

	if (len == 0)
		return 0;
	cmk_unit_get(size, cmk_unit_index(size, off), &first);
	cmk_unit_get(size, cmk_unit_index(size, off + len - 1), &last);
	start = first.backing_off;
	span = (size_t)(last.backing_off + last.backing_len - start);
	/* Whole units, none tiny: their ciphertext has the plaintext's
	 * length and place, so it is read into buf and decrypted there. */
	if (!first.tiny && first.plain_off == off && span == len) {
		ret = pread_full(fd, buf, len, start);
		for (index = first.index; ret == 0 && index <= last.index;
		     index++) {
			cmk_unit_get(size, index, &unit);
			ret = unit_decrypt(xts, &unit,
					   buf + (unit.plain_off - off));
		}
		return ret;
	}
	tmp = cmk_tbuf(CMK_TBUF_READ, span);
	if (!tmp)
		return -ENOMEM;
	ret = pread_full(fd, tmp, span, start);
	for (index = first.index; ret == 0 && index <= last.index; index++) {
		uint64_t from, to;
		uint8_t *cipher;

		cmk_unit_get(size, index, &unit);
		cipher = tmp + (unit.backing_off - start);
		ret = unit_decrypt(xts, &unit, cipher);
		from = off > unit.plain_off ? off : unit.plain_off;
		to = unit.plain_off + unit.plain_len;
		if (to > off + len)
			to = off + len;
		memcpy(buf + (from - off),
		       cipher + unit_plain_skip(&unit) +
			       (from - unit.plain_off),
		       (size_t)(to - from));
	}
	return ret;
}

ssize_t cmk_data_read(int fd, struct cmk_xts *xts, void *buf, size_t len,
		      uint64_t off)
{
	uint64_t size = 0;
	int ret;

	ret = cmk_data_size(fd, &size);
	if (ret)
		return ret;
	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	ret = read_plain(fd, xts, size, buf, len, off);
	return ret ? ret : (ssize_t)len;
}

/* The old plaintext of a file while it is re-encoded at a new size. When
 * the size changes, the old last unit changes shape, so it is decrypted up
 * front (tail) before any of its backing bytes are overwritten. */
struct old_view {
	uint64_t size;
	uint8_t tail[CMK_UNIT_MAX];
	uint64_t tail_start; /* tail holds plaintext [tail_start, size) */
	bool have_tail;
};

static int old_view_init(int fd, struct cmk_xts *xts, uint64_t old_size,
			 uint64_t new_size, struct old_view *view)
{
	struct cmk_unit last, same;

	view->size = old_size;
	view->have_tail = false;
	if (old_size == new_size || old_size == 0)
		return 0;
	cmk_unit_get(old_size, cmk_unit_count(old_size) - 1, &last);
	cmk_unit_get(new_size, last.index, &same);
	/* The old last unit keeps its encoding only if the new layout has
	 * the same unit there: a full unit stays full unless a short piece
	 * now merges into it. */
	if (!last.tiny && !same.tiny && last.plain_len == same.plain_len)
		return 0;
	view->have_tail = true;
	view->tail_start = last.plain_off;
	return read_plain(fd, xts, old_size, view->tail, last.plain_len,
			  last.plain_off);
}

/* Fills plain with the old plaintext of [from, from + len), zeros past the
 * old end. Unit-sized pieces that lie before the old tail are read from the
 * backing file, which the caller has not yet overwritten there. */
static int old_plain(int fd, struct cmk_xts *xts, const struct old_view *view,
		     uint8_t *plain, size_t len, uint64_t from)
{
	uint64_t end = from + len;
	uint64_t split;
	int ret;

	memset(plain, 0, len);
	if (from >= view->size)
		return 0;
	if (end > view->size)
		end = view->size;
	split = view->have_tail ? view->tail_start : view->size;
	if (from < split) {
		uint64_t to = end < split ? end : split;

		ret = read_plain(fd, xts, view->size, plain,
				 (size_t)(to - from), from);
		if (ret)
			return ret;
	}
	if (view->have_tail && end > view->tail_start) {
		uint64_t a = from > view->tail_start ? from : view->tail_start;

		memcpy(plain + (a - from), view->tail + (a - view->tail_start),
		       (size_t)(end - a));
	}
	return 0;
}

/* Encrypts and writes new-layout units [lo, hi] of a file of new_size
 * bytes: new data where [off, off + len) covers them, old plaintext
 * elsewhere, zeros past the old end. */
static int write_units(int fd, struct cmk_xts *xts, const struct old_view *view,
		       uint64_t new_size, uint64_t lo, uint64_t hi,
		       const uint8_t *data, size_t len, uint64_t off)
{
	struct cmk_unit first, last, unit;
	uint64_t start, index;
	size_t span;
	uint8_t *out;
	int ret = 0;

	cmk_unit_get(new_size, lo, &first);
	cmk_unit_get(new_size, hi, &last);
	start = first.backing_off;
	span = (size_t)(last.backing_off + last.backing_len - start);
	out = cmk_tbuf(CMK_TBUF_UNITS, span);
	if (!out)
		return -ENOMEM;
	for (index = lo; ret == 0 && index <= hi; index++) {
		uint8_t *cipher, *plain;
		uint64_t u_end;

		cmk_unit_get(new_size, index, &unit);
		cipher = out + (unit.backing_off - start);
		plain = cipher + unit_plain_skip(&unit);
		u_end = unit.plain_off + unit.plain_len;
		if (!unit.tiny && off <= unit.plain_off && u_end <= off + len) {
			/* Wholly new: encrypted straight from the caller's
			 * buffer, without a copy. */
			ret = cmk_xts_crypt(xts, true, unit.tweak,
					    data + (unit.plain_off - off),
					    cipher, unit.backing_len);
			continue;
		}
		if (unit.tiny)
			memset(cipher, 0, CMK_TINY_AREA_LEN);
		if (!(off <= unit.plain_off && u_end <= off + len)) {
			/* Partly new: read-modify-write. */
			ret = old_plain(fd, xts, view, plain, unit.plain_len,
					unit.plain_off);
			if (ret)
				break;
		}
		if (len && off < u_end && off + len > unit.plain_off) {
			uint64_t a = off > unit.plain_off ? off
							  : unit.plain_off;
			uint64_t b = off + len < u_end ? off + len : u_end;

			memcpy(plain + (a - unit.plain_off), data + (a - off),
			       (size_t)(b - a));
		}
		ret = cmk_xts_crypt(xts, true, unit.tweak, cipher, cipher,
				    unit.backing_len);
	}
	if (ret == 0)
		ret = pwrite_full(fd, out, span, start);
	else /* a unit may hold plaintext not yet encrypted */
		memset(out, 0, span);
	return ret;
}

/* Re-encodes a file going from its current size to new_size (>= old) with
 * data written at off: the units the data touches and, when the size
 * changes, the units that held the old tail. */
static int grow_and_write(int fd, struct cmk_xts *xts, uint64_t old_size,
			  uint64_t new_size, const uint8_t *data, size_t len,
			  uint64_t off)
{
	static const uint8_t zeros[CMK_TINY_AREA_LEN];
	struct old_view view;
	uint64_t a_lo = 0, a_hi = 0, b_lo = 0, b_hi = 0;
	bool have_a = len > 0;
	int ret;

	ret = old_view_init(fd, xts, old_size, new_size, &view);
	if (ret)
		return ret;
	if (have_a) {
		a_lo = cmk_unit_index(new_size, off);
		a_hi = cmk_unit_index(new_size, off + len - 1);
	}
	if (view.have_tail) {
		b_lo = cmk_unit_index(new_size, view.tail_start);
		b_hi = cmk_unit_index(new_size, old_size - 1);
	}
	if (have_a && view.have_tail && b_hi + 1 >= a_lo) {
		/* Overlapping or adjacent: one run. */
		ret = write_units(fd, xts, &view, new_size,
				  b_lo < a_lo ? b_lo : a_lo,
				  b_hi > a_hi ? b_hi : a_hi, data, len, off);
	} else {
		if (view.have_tail)
			ret = write_units(fd, xts, &view, new_size, b_lo, b_hi,
					  data, len, off);
		if (ret == 0 && view.have_tail && have_a)
			ret = cmk_fault("write.tail");
		if (ret == 0 && have_a)
			ret = write_units(fd, xts, &view, new_size, a_lo, a_hi,
					  data, len, off);
	}
	/* The tiny area holds ciphertext only while the file is tiny. */
	if (ret == 0 && old_size > 0 && old_size < CMK_XTS_MIN &&
	    new_size >= CMK_XTS_MIN)
		ret = pwrite_full(fd, zeros, sizeof(zeros), CMK_TINY_AREA_OFF);
	return ret;
}

ssize_t cmk_data_write(int fd, struct cmk_xts *xts, const void *buf, size_t len,
		       uint64_t off)
{
	uint64_t size = 0, new_size;
	int ret;

	if (len == 0)
		return 0;
	if (off > CMK_PLAIN_MAX || len > CMK_PLAIN_MAX - off)
		return -EFBIG;
	ret = cmk_data_size(fd, &size);
	if (ret)
		return ret;
	new_size = off + len > size ? off + len : size;
	ret = grow_and_write(fd, xts, size, new_size, buf, len, off);
	return ret ? ret : (ssize_t)len;
}

/* Writes (or, with p NULL, clears) the header's pending-truncate record. */
static int pending_write(int fd, const struct cmk_pending *p)
{
	uint8_t rec[CMK_PENDING_SIZE] = { 0 };

	if (p)
		cmk_pending_encode(p, rec);
	return pwrite_full(fd, rec, sizeof(rec), CMK_PENDING_OFF);
}

int cmk_data_finish_pending(int fd, const struct cmk_pending *p)
{
	struct stat st;
	int ret;

	if (fstat(fd, &st) != 0)
		return -errno;
	/* Cut already: the new end's bytes may not be in place yet. Not cut
	 * yet: the old file is whole, and the truncate never happened. */
	if ((uint64_t)st.st_size == cmk_backing_len(p->new_size)) {
		ret = pwrite_full(fd, p->bytes, p->len, p->off);
		if (ret)
			return ret;
	}
	return pending_write(fd, NULL);
}

/* Shrinks a file whose new last unit changes its encoding. Cutting the
 * backing file and rewriting that unit cannot be one step, so the bytes
 * that change (XTS changes only the last two blocks of a unit whose length
 * changes: at most 31 bytes) are first recorded in the header; a crash at
 * any point leaves either the old file whole or a record that the next
 * open finishes (cmk_data_finish_pending()). */
static int shrink_reencode(int fd, struct cmk_xts *xts, uint64_t size,
			   uint64_t new_size, const struct cmk_unit *new_last)
{
	struct cmk_unit keep, cur;
	uint8_t plain[CMK_UNIT_MAX + CMK_TINY_AREA_LEN];
	uint8_t disk[CMK_UNIT_MAX + CMK_TINY_AREA_LEN];
	uint8_t *cipher = plain;
	struct cmk_pending p = { .new_size = new_size };
	size_t got = 0, d;
	ssize_t n;
	int ret;

	/* 1. The old units after the one that holds the new last byte go
	 * first, while that one keeps its old encoding: a unit that is not
	 * the old last one is full, and stays full at the size that ends
	 * with it. */
	cmk_unit_get(size, cmk_unit_index(size, new_size - 1), &keep);
	if (keep.index + 1 < cmk_unit_count(size)) {
		size = keep.plain_off + keep.plain_len;
		if (ftruncate(fd, (off_t)cmk_backing_len(size)))
			return -errno;
		ret = cmk_fault("truncate.shortened");
		if (ret)
			return ret;
	}
	/* 2. A hole where the new last unit begins becomes a unit of
	 * encrypted zeros of the same length first (it reads the same), so
	 * that the unit's bytes differ only where XTS makes them. */
	cmk_unit_get(size, new_last->index, &cur);
	if (!cur.tiny) {
		ret = pread_full(fd, disk, cur.backing_len, cur.backing_off);
		if (ret == 0 && all_zero(disk, cur.backing_len)) {
			ret = cmk_xts_crypt(xts, true, cur.tweak, disk, disk,
					    cur.backing_len);
			if (ret == 0)
				ret = pwrite_full(fd, disk, cur.backing_len,
						  cur.backing_off);
		}
		if (ret)
			goto out;
	}
	/* 3. The new last unit's ciphertext, and where it differs from the
	 * bytes on disk. */
	memset(plain, 0, sizeof(plain));
	ret = read_plain(fd, xts, size, plain + unit_plain_skip(new_last),
			 new_last->plain_len, new_last->plain_off);
	if (ret == 0)
		ret = cmk_xts_crypt(xts, true, new_last->tweak, cipher, cipher,
				    new_last->backing_len);
	while (ret == 0 && got < new_last->backing_len) {
		n = pread(fd, disk + got, new_last->backing_len - got,
			  (off_t)(new_last->backing_off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = -errno;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (ret)
		goto out;
	for (d = 0; d < got && disk[d] == cipher[d]; d++)
		;
	p.off = new_last->backing_off + d;
	p.len = (uint8_t)(new_last->backing_len - d);
	if (new_last->backing_len - d > CMK_PENDING_MAX) {
		ret = -EIO; /* XTS never changes more: a broken cipher */
		goto out;
	}
	memcpy(p.bytes, cipher + d, p.len);
	/* 4. The record, the cut, the new bytes, no record. */
	if (p.len) {
		ret = pending_write(fd, &p);
		if (ret == 0)
			ret = cmk_fault("truncate.recorded");
	}
	if (ret == 0 && ftruncate(fd, (off_t)cmk_backing_len(new_size)))
		ret = -errno;
	if (ret == 0 && p.len) {
		ret = cmk_fault("truncate.cut");
		if (ret == 0)
			ret = pwrite_full(fd, p.bytes, p.len, p.off);
		if (ret == 0)
			ret = cmk_fault("truncate.tail");
		if (ret == 0)
			ret = pending_write(fd, NULL);
	}
out:
	cmk_cleanse(plain, sizeof(plain));
	cmk_cleanse(disk, sizeof(disk));
	cmk_cleanse(&p, sizeof(p));
	return ret;
}

int cmk_data_truncate(int fd, struct cmk_xts *xts, uint64_t new_size)
{
	static const uint8_t zeros[CMK_TINY_AREA_LEN];
	struct cmk_unit new_last, old_same;
	uint64_t size = 0;
	int ret;

	if (new_size > CMK_PLAIN_MAX)
		return -EFBIG;
	ret = cmk_data_size(fd, &size);
	if (ret || new_size == size)
		return ret;
	if (new_size > size) {
		ret = grow_and_write(fd, xts, size, new_size, NULL, 0, 0);
		if (ret == 0 && ftruncate(fd, (off_t)cmk_backing_len(new_size)))
			ret = -errno;
		return ret;
	}
	if (new_size == 0) {
		if (ftruncate(fd, (off_t)CMK_HEADER_SIZE))
			return -errno;
		return size < CMK_XTS_MIN
			       ? pwrite_full(fd, zeros, sizeof(zeros),
					     CMK_TINY_AREA_OFF)
			       : 0;
	}
	/* Shrinking: only the new last unit can change shape. */
	cmk_unit_get(new_size, cmk_unit_count(new_size) - 1, &new_last);
	cmk_unit_get(size, new_last.index, &old_same);
	if (!new_last.tiny && !old_same.tiny &&
	    new_last.plain_len == old_same.plain_len) {
		if (ftruncate(fd, (off_t)cmk_backing_len(new_size)))
			return -errno;
		return 0;
	}
	return shrink_reencode(fd, xts, size, new_size, &new_last);
}
