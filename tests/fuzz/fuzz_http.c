/* SPDX-License-Identifier: MIT */
/* The answer handling of kms/http.c: its libcurl callbacks for header
 * lines (Location, Retry-After and Azure's millisecond variants, a
 * captured token header, the cap on all headers) and for the body (the cap
 * of CMK_HTTP_BODY_MAX, NUL termination), fed as libcurl feeds them, and
 * the helpers that read what a server sent (Retry-After values, nextLink
 * origins, text made printable). The callbacks are static: this file
 * compiles kms/http.c itself, unchanged.
 *
 * Input: a first byte (bit 0: capture X-Subject-Token; bits 1-3: the size
 * of the body's chunks; bits 4-7: with chunks of 4 KiB or more, how many
 * times the body is sent, to reach the cap), header lines up to an empty
 * line, the body. */
/* NOLINTNEXTLINE(bugprone-suspicious-include): the callbacks are static; the target is compiled with them */
#include "kms/http.c"

#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_crypto_init();
	return 0;
}

static void helpers(const char *line, size_t len)
{
	char value[300], out[64];
	const char *colon = memchr(line, ':', len);
	size_t vlen;
	long secs;

	if (!colon)
		return;
	vlen = len - (size_t)(colon + 1 - line);
	if (vlen >= sizeof(value))
		vlen = sizeof(value) - 1;
	memcpy(value, colon + 1, vlen);
	value[vlen] = '\0';
	value[strcspn(value, "\r\n")] = '\0';
	secs = cmk_http_parse_retry_after(value, 1700000000);
	FUZZ_CHECK(secs >= -1 && secs <= 86400);
	cmk_http_same_origin(value, "https://fuzz.vault.azure.net");
	cmk_http_same_origin("https://fuzz.vault.azure.net:443/x", value);
	cmk_http_url_for_msg(value, out, sizeof(out));
	FUZZ_CHECK(strlen(out) < sizeof(out));
	cmk_http_printable(value, vlen, 10, out, 8);
	FUZZ_CHECK(strlen(out) < 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 1,    7,     64,    512,
					 4096, 16384, 65536, 1u << 20 };
	const char *p, *end, *body;
	struct http_try t;
	size_t chunk, repeat, body_len, sent = 0;
	bool stopped = false;

	if (size < 1 || size > 64 * 1024)
		return 0;
	memset(&t, 0, sizeof(t));
	t.retry_after_ms = -1;
	t.capture_name = (data[0] & 1) ? "X-Subject-Token" : NULL;
	chunk = chunks[(data[0] >> 1) & 7];
	/* Only big chunks are repeated: a megabyte in bytes would take a
	 * million calls. */
	repeat = chunk >= 4096 ? 1 + (size_t)(data[0] >> 4) * 24 : 1;
	p = (const char *)data + 1;
	end = (const char *)data + size;

	/* Header lines, each with its line end, as libcurl passes them. */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
		size_t r;

		if (n <= 2 && (p[0] == '\n' || (p[0] == '\r' && n == 2))) {
			p += n; /* the empty line */
			break;
		}
		r = on_header((char *)p, 1, n, &t);
		FUZZ_CHECK(r == 0 || r == n);
		helpers(p, n);
		p += n;
		if (r == 0) {
			stopped = true;
			break;
		}
	}
	FUZZ_CHECK(t.header_bytes <= CMK_HTTP_HEADERS_MAX || stopped);
	FUZZ_CHECK(strlen(t.location) < sizeof(t.location));
	FUZZ_CHECK(t.retry_after_ms >= -1 && t.retry_after_ms <= 86400000);
	if (t.captured) {
		FUZZ_CHECK(t.capture_name);
		FUZZ_CHECK(t.captured_len <= CMK_HTTP_CAPTURE_MAX);
		FUZZ_CHECK(strlen(t.captured) <= t.captured_len);
	}

	/* The body, in chunks, repeated. */
	body = p;
	body_len = (size_t)(end - p);
	for (size_t i = 0; i < repeat && !stopped && body_len; i++) {
		for (size_t off = 0; off < body_len;) {
			size_t n = body_len - off < chunk ? body_len - off
							  : chunk;
			size_t r = on_body((char *)body + off, 1, n, &t);

			if (r == 0) {
				FUZZ_CHECK(t.too_big || t.oom);
				FUZZ_CHECK(sent + n > CMK_HTTP_BODY_MAX ||
					   t.oom);
				stopped = true;
				break;
			}
			FUZZ_CHECK(r == n);
			sent += n;
			off += n;
		}
	}
	FUZZ_CHECK(t.len <= CMK_HTTP_BODY_MAX);
	FUZZ_CHECK(t.len == sent);
	if (t.body) {
		FUZZ_CHECK(t.cap <= CMK_HTTP_BODY_MAX + 1 && t.len < t.cap);
		FUZZ_CHECK(t.body[t.len] == '\0');
		FUZZ_CHECK(memcmp(t.body, body,
				  t.len < body_len ? t.len : body_len) == 0);
	}
	try_free(&t);
	return 0;
}
