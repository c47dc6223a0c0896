/* SPDX-License-Identifier: MIT */
/* The HTTPS client of the key-service providers, on libcurl.
 *
 * One request is tried until it gives an answer worth keeping, with
 * bounded exponential backoff (or the server's Retry-After) between tries,
 * and never past a deadline the caller sets for the whole operation.
 * HTTPS only (plain http only where a request allows it: a metadata
 * service on a local address), peer and host name verified, no redirects
 * followed, no proxy where a request asks for none, answer bodies and
 * headers capped. Bodies may hold secrets: they live in blocks that are
 * wiped when freed, as does everything libcurl allocates (see
 * cmk_http_global_init()). Nothing here logs. */
#ifndef CMKFS_KMS_HTTP_H
#define CMKFS_KMS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"
#include "conf/conf.h" /* struct cmk_conf_https */

#define CMK_HTTP_BODY_MAX (1u << 20)	   /* answer body, bytes */
#define CMK_HTTP_HEADERS_MAX (64u * 1024u) /* all header lines of a try */
#define CMK_HTTP_RETRY_AFTER_MAX 10	   /* seconds of Retry-After obeyed */
#define CMK_HTTP_BACKOFF_FIRST_MS 500
#define CMK_HTTP_BACKOFF_MAX_MS 4000
#define CMK_HTTP_URL_MAX 2048		   /* longest URL we build or follow */
#define CMK_HTTP_CAPTURE_MAX (16u * 1024u) /* a captured header's value */

/* Once per program, from the first cmk_http_new(): sets libcurl up with
 * cmk_locked_malloc() and friends as its allocators so that its copies of
 * tokens, secrets and answers are wiped when freed. Returns 0 or -ENOMEM;
 * later calls return the first result. */
int cmk_http_global_init(void);

/* libcurl's version, for cmkfs --version. */
const char *cmk_http_curl_version(void);

/* A client: the settings its requests share. Each try runs on a libcurl
 * handle and connection of its own, freed (and wiped) when the try ends,
 * so one client may be used by several threads at once. */
struct cmk_http;

/* A client with https's settings; conf_path names the configuration in
 * errors. A CA file that cannot be read is a configuration mistake,
 * reported here rather than as a TLS failure at the first request. */
int cmk_http_new(const char *conf_path, const struct cmk_conf_https *https,
		 struct cmk_http **out, struct cmk_err *err);
void cmk_http_free(struct cmk_http *h);

struct cmk_http_req {
	const char *method; /* "GET" or "POST" */
	const char *url;
	/* NULL-terminated "Name: value" lines; may hold a token. */
	const char *const *headers;
	/* POST: the body, sent from this buffer (never copied); may hold a
	 * secret. Content-Type comes from headers. */
	const char *body;
	size_t body_len;
	bool plain_http; /* http:// allowed too (a metadata service) */
	bool no_proxy;	 /* never through a proxy */
	/* 404 and 410 are transient too (Azure's metadata service answers
	 * them while it updates). */
	bool retry_not_found;
	/* A header whose value the caller wants (Keystone's X-Subject-Token):
	 * kept as sent, in resp.captured. NULL: none. */
	const char *capture_header;
};

struct cmk_http_resp {
	long status; /* 0 when no answer came */
	char *body;  /* NUL-terminated; wiped when freed */
	size_t len;
	char location[256];	/* printable copy of Location, if any */
	int64_t retry_after_ms; /* wait asked for (Retry-After), -1: none */
	unsigned int tries;	/* how many tries were made */
	bool gave_up_waiting;	/* Retry-After ran past the deadline */
	char *captured; /* req.capture_header's value or NULL; wiped when freed
			 */
	size_t captured_len;
};

/* Monotonic milliseconds, for deadlines. */
int64_t cmk_http_now_ms(void);

/* Makes the request, retrying connection failures, time-outs, 408, 429,
 * 500, 502, 503 and 504 up to opts.retries times, but never past
 * deadline_ms (cmk_http_now_ms() based). Returns 0 with the last answer in
 * resp (any status: the caller judges it; free it with
 * cmk_http_resp_free()), or -errno when no answer came: -ETIMEDOUT,
 * -ECONNREFUSED (refused, or the server's certificate was not trusted),
 * -EHOSTUNREACH (no route, no such host, connection dropped), -EPROTO (an
 * answer too big or malformed), -ENOMEM. err then names the method, the URL
 * without its query, libcurl's explanation and the number of tries. */
int cmk_http_request(struct cmk_http *h, const struct cmk_http_req *req,
		     int64_t deadline_ms, struct cmk_http_resp *resp,
		     struct cmk_err *err);
void cmk_http_resp_free(struct cmk_http_resp *resp);

/* --- pure helpers (unit-tested) ------------------------------------------ */

/* Percent-encodes len bytes of in for a URL path segment, query value or
 * form value: everything but A-Z a-z 0-9 - . _ ~ becomes %XX. Writes a
 * NUL-terminated string; -ENOSPC when it does not fit in size. */
int cmk_http_escape(const char *in, size_t len, char *out, size_t size);

/* The seconds a Retry-After header value asks for: delta-seconds or an
 * HTTP date (relative to now). -1 when it is neither; 0 for a date in the
 * past. Capped at a day, so that the result always fits. */
long cmk_http_parse_retry_after(const char *value, time_t now);

/* Milliseconds to wait before try number `retry` (1 for the first retry):
 * what the server asked for (retry_after_ms >= 0), capped at
 * CMK_HTTP_RETRY_AFTER_MAX seconds; else exponential from
 * CMK_HTTP_BACKOFF_FIRST_MS, capped at CMK_HTTP_BACKOFF_MAX_MS, plus up to
 * a quarter more by jitter (0 to 1023) so that clients do not retry in
 * step. */
int64_t cmk_http_backoff_ms(unsigned int retry, int64_t retry_after_ms,
			    unsigned int jitter);

/* True when url is an absolute https:// URL on the same host and port as
 * base (scheme and host compared without case; the default port 443 may
 * be written or left out), with no user part: a link the server sends
 * (Azure's nextLink) may only lead back to the same service. */
bool cmk_http_same_origin(const char *url, const char *base);

/* Copies url without its query and fragment, for messages: queries may
 * carry tokens. */
void cmk_http_url_for_msg(const char *url, char *out, size_t size);

/* Copies at most max characters of s (at most len bytes, up to its first
 * line end) into out, replacing anything but printable ASCII with '?' and
 * marking a cut with "...": text from a server, made safe to print. */
void cmk_http_printable(const char *s, size_t len, size_t max, char *out,
			size_t size);

#endif
