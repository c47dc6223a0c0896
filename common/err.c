/* SPDX-License-Identifier: MIT */
#include "common/err.h"
#undef cmk_err_set /* the functions, not err.h's macros for the analyzer */
#undef cmk_err_cat

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cmk_err_set(struct cmk_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int cmk_err_prefix(struct cmk_err *err, const char *fmt, ...)
{
	char prefix[CMK_ERR_MSG_MAX];
	char old[CMK_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return 0;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* Truncation is fine: the start of the message matters most. */
	memcpy(old, err->msg, sizeof(old));
	size_t plen = strnlen(prefix, sizeof(err->msg) - 1);
	size_t olen = strnlen(old, sizeof(err->msg) - 1 - plen);

	memcpy(err->msg, prefix, plen);
	memcpy(err->msg + plen, old, olen);
	err->msg[plen + olen] = '\0';
	return err->code;
}

void cmk_err_clear(struct cmk_err *err)
{
	if (err) {
		err->code = 0;
		err->cat = CMK_CAT_NONE;
		err->msg[0] = '\0';
	}
}

int cmk_err_cat(struct cmk_err *err, enum cmk_err_cat cat, int code)
{
	if (err && code && err->cat == CMK_CAT_NONE)
		err->cat = cat;
	return code;
}

void cmk_printable(const char *in, char *out, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return;
	for (const unsigned char *c = (const unsigned char *)in; *c; c++) {
		char esc[5];
		size_t len;

		if (*c < 0x20 || *c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", *c);
			len = 4;
		} else if (*c == '\\') {
			esc[0] = esc[1] = '\\';
			len = 2;
		} else {
			esc[0] = (char)*c;
			len = 1;
		}
		if (n + len >= size)
			break;
		memcpy(out + n, esc, len);
		n += len;
	}
	out[n] = '\0';
}
