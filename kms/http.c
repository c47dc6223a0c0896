/* SPDX-License-Identifier: MIT */
/* The HTTPS client of the key-service providers: libcurl's easy interface
 * with the safety settings in one place (see http.h). */
#include "kms/http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "crypto/crypto.h"
#include "version.h"

#define HTTP_MIN_TRY_MS 100 /* a try with less time left is not worth it */
#define HTTP_USER_AGENT "cmkfs/" CMKFS_VERSION

/* Settings only: each try has a libcurl handle of its own (see
 * try_once()), so threads may share a client freely. */
struct cmk_http {
	char *ca_file; /* NULL: the system's CAs */
	unsigned int timeout;
	unsigned int retries;
};

/* What one try brings back. */
struct http_try {
	char *body; /* cmk_locked_malloc'ed */
	size_t len;
	size_t cap;
	bool too_big;
	bool oom;
	size_t header_bytes;
	bool headers_too_big;
	int64_t retry_after_ms;
	char location[256];
	const char *capture_name; /* the request's capture_header */
	char *captured;		  /* cmk_locked_malloc'ed */
	size_t captured_len;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_result = -ENOMEM;
static struct cmk_err global_err;
static void global_init_once(void)
{
	CURLcode rc;

	/* Every block libcurl allocates (header lists with tokens, its
	 * buffers) is wiped when it frees it. */
	rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, cmk_locked_malloc,
				  cmk_locked_free, cmk_locked_realloc,
				  cmk_locked_strdup, cmk_locked_calloc);
	if (rc != CURLE_OK) {
		cmk_err_set(&global_err, -ENOMEM, "cannot set up libcurl: %s",
			    curl_easy_strerror(rc));
		global_result = -ENOMEM;
		return;
	}
	global_result = 0;
}

const char *cmk_http_curl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

int cmk_http_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return global_result;
}

int64_t cmk_http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- pure helpers ----------------------------------------------------------
 */

int cmk_http_escape(const char *in, size_t len, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (isascii(c) && (isalnum(c) || strchr("-._~", c)) && c) {
			if (o + 1 >= size)
				goto full;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= size)
				goto full;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= size)
		goto full;
	out[o] = '\0';
	return 0;
full:
	/* Never leave half a secret behind in the buffer. */
	cmk_cleanse(out, size);
	if (size)
		out[0] = '\0';
	return -ENOSPC;
}

/* An HTTP date in any of RFC 9110's three forms (IMF-fixdate, RFC 850,
 * asctime), always GMT; -1 for anything else. */
static time_t http_date(const char *s)
{
	static const char *const forms[] = {
		"%a, %d %b %Y %H:%M:%S GMT", /* Sun, 06 Nov 1994 08:49:37 GMT */
		"%A, %d-%b-%y %H:%M:%S GMT", /* Sunday, 06-Nov-94 08:49:37 GMT
					      */
		"%a %b %e %H:%M:%S %Y",	     /* Sun Nov  6 08:49:37 1994 */
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct tm tm;
		const char *end;

		memset(&tm, 0, sizeof(tm));
		end = strptime(s, forms[i], &tm);
		if (!end)
			continue;
		while (*end == ' ' || *end == '\t')
			end++;
		if (!*end)
			return timegm(&tm);
	}
	return (time_t)-1;
}

long cmk_http_parse_retry_after(const char *value, time_t now)
{
	const long day = 86400;
	const char *p = value;
	time_t when;
	long n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (isdigit((unsigned char)*p)) {
		for (; isdigit((unsigned char)*p); p++)
			if (n < day)
				n = n * 10 + (*p - '0');
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p)
			return -1;
		return n < day ? n : day;
	}
	if (!*p)
		return -1;
	/* An HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT". */
	when = http_date(p);
	if (when == (time_t)-1)
		return -1;
	if (when <= now)
		return 0;
	return when - now < day ? (long)(when - now) : day;
}

int64_t cmk_http_backoff_ms(unsigned int retry, int64_t retry_after_ms,
			    unsigned int jitter)
{
	int64_t wait = CMK_HTTP_BACKOFF_FIRST_MS;

	if (retry_after_ms >= 0)
		return retry_after_ms < CMK_HTTP_RETRY_AFTER_MAX * 1000
			       ? retry_after_ms
			       : CMK_HTTP_RETRY_AFTER_MAX * 1000;
	for (unsigned int i = 1; i < retry && wait < CMK_HTTP_BACKOFF_MAX_MS;
	     i++)
		wait *= 2;
	if (wait > CMK_HTTP_BACKOFF_MAX_MS)
		wait = CMK_HTTP_BACKOFF_MAX_MS;
	return wait + wait * (int64_t)(jitter & 1023) / 4096;
}

/* Splits an absolute https URL into lower-case host and port. */
static bool https_origin(const char *url, char *host, size_t size,
			 unsigned long *port)
{
	const char *p, *end, *colon;
	size_t len;

	if (strncasecmp(url, "https://", 8) != 0)
		return false;
	p = url + 8;
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) || end == p)
		return false;
	/* The port's colon: after an IPv6 literal's ']'. */
	colon = NULL;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return false;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return false;
			colon = rb + 1;
		}
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
	}
	len = (size_t)((colon ? colon : end) - p);
	if (len == 0 || len >= size)
		return false;
	for (size_t i = 0; i < len; i++)
		host[i] = (char)tolower((unsigned char)p[i]);
	host[len] = '\0';
	*port = 443;
	if (colon) {
		size_t nd = (size_t)(end - colon - 1);

		if (nd == 0 || nd > 5 || strspn(colon + 1, "0123456789") < nd)
			return false;
		*port = strtoul(colon + 1, NULL, 10);
		if (*port == 0 || *port > 65535)
			return false;
	}
	return true;
}

bool cmk_http_same_origin(const char *url, const char *base)
{
	char h1[256], h2[256];
	unsigned long p1, p2;

	if (!https_origin(url, h1, sizeof(h1), &p1) ||
	    !https_origin(base, h2, sizeof(h2), &p2))
		return false;
	return p1 == p2 && strcmp(h1, h2) == 0;
}

void cmk_http_url_for_msg(const char *url, char *out, size_t size)
{
	size_t len = strcspn(url, "?#");

	cmk_http_printable(url, len, size > 4 ? size - 4 : 0, out, size);
}

void cmk_http_printable(const char *s, size_t len, size_t max, char *out,
			size_t size)
{
	size_t o = 0, i;

	if (!size)
		return;
	for (i = 0; i < len && s[i] && s[i] != '\r' && s[i] != '\n'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= max || o + 1 >= size)
			break;
		out[o++] = (char)(c >= 0x20 && c <= 0x7e ? c : '?');
	}
	if (i < len && s[i] && s[i] != '\r' && s[i] != '\n') {
		/* Cut short: say so, within size. */
		while (o > 0 && o + 4 > size)
			o--;
		if (o + 4 <= size) {
			memcpy(out + o, "...", 3);
			o += 3;
		}
	}
	out[o] = '\0';
}

/* --- the client ------------------------------------------------------------
 */

int cmk_http_new(const char *conf_path, const struct cmk_conf_https *https,
		 struct cmk_http **out, struct cmk_err *err)
{
	struct cmk_http *h;
	int ret;

	*out = NULL;
	if (https->ca_file[0] && access(https->ca_file, R_OK) != 0) {
		ret = -errno;
		return cmk_err_set(err, ret, "%s: ca_file %s: %s", conf_path,
				   https->ca_file, strerror(-ret));
	}
	ret = cmk_http_global_init();
	if (ret)
		return cmk_err_set(err, ret, "%s", global_err.msg);
	h = calloc(1, sizeof(*h));
	if (!h)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	h->timeout = https->timeout ? https->timeout : 10;
	h->retries = https->retries;
	if (https->ca_file[0]) {
		h->ca_file = strdup(https->ca_file);
		if (!h->ca_file) {
			ret = cmk_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	*out = h;
	return 0;
fail:
	free(h->ca_file);
	free(h);
	return ret;
}

void cmk_http_free(struct cmk_http *h)
{
	if (!h)
		return;
	free(h->ca_file);
	free(h);
}

void cmk_http_resp_free(struct cmk_http_resp *resp)
{
	if (!resp)
		return;
	cmk_locked_free(resp->body);
	cmk_locked_free(resp->captured);
	resp->body = NULL;
	resp->len = 0;
	resp->captured = NULL;
	resp->captured_len = 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	struct http_try *t = user;
	size_t n = size * nmemb;
	size_t cap;
	char *grown;

	if (n > CMK_HTTP_BODY_MAX - t->len) {
		t->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (t->len + n + 1 > t->cap) {
		cap = t->cap ? t->cap : 4096;
		while (cap < t->len + n + 1)
			cap *= 2;
		if (cap > CMK_HTTP_BODY_MAX + 1)
			cap = CMK_HTTP_BODY_MAX + 1;
		/* cmk_locked_realloc wipes the block it leaves. */
		grown = cmk_locked_realloc(t->body, cap);
		if (!grown) {
			t->oom = true;
			return 0;
		}
		t->body = grown;
		t->cap = cap;
	}
	memcpy(t->body + t->len, data, n);
	t->len += n;
	t->body[t->len] = '\0';
	return n;
}

/* The value of header line "Name: value" when its name is name, trimmed
 * into out; false otherwise. */
static bool header_value(const char *line, size_t len, const char *name,
			 char *out, size_t size)
{
	size_t nlen = strlen(name), vlen;
	const char *v;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 ||
	    line[nlen] != ':')
		return false;
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	cmk_http_printable(v, vlen, size - 1, out, size);
	return true;
}

/* Keeps the value of the header the request asked for (a token), as
 * sent, in a block that is wiped when freed. True when line is that
 * header. */
static bool capture_header(struct http_try *t, const char *line, size_t len)
{
	size_t nlen = strlen(t->capture_name), vlen;
	const char *v;

	if (len <= nlen || strncasecmp(line, t->capture_name, nlen) != 0 ||
	    line[nlen] != ':')
		return false;
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (vlen > CMK_HTTP_CAPTURE_MAX) {
		t->headers_too_big = true;
		return true;
	}
	cmk_locked_free(t->captured);
	t->captured = cmk_locked_malloc(vlen + 1);
	if (!t->captured) {
		t->oom = true;
		return true;
	}
	memcpy(t->captured, v, vlen);
	t->captured[vlen] = '\0';
	t->captured_len = vlen;
	return true;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *user)
{
	struct http_try *t = user;
	size_t n = size * nitems;
	char value[64] = "";
	long secs;
	char *end;

	t->header_bytes += n;
	if (t->header_bytes > CMK_HTTP_HEADERS_MAX) {
		t->headers_too_big = true;
		return 0;
	}
	/* A new status line (after a 100 Continue): forget the last one's. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		t->retry_after_ms = -1;
		t->location[0] = '\0';
		cmk_locked_free(t->captured);
		t->captured = NULL;
		t->captured_len = 0;
		return n;
	}
	if (header_value(data, n, "Location", t->location, sizeof(t->location)))
		return n;
	if (t->capture_name && capture_header(t, data, n))
		return t->oom || t->headers_too_big ? 0 : n;
	/* Azure's millisecond variants win over Retry-After. */
	if (header_value(data, n, "retry-after-ms", value, sizeof(value)) ||
	    header_value(data, n, "x-ms-retry-after-ms", value,
			 sizeof(value))) {
		errno = 0;
		secs = strtol(value, &end, 10);
		if (!errno && *value && !*end && secs >= 0)
			t->retry_after_ms = secs < 86400000L ? secs : 86400000L;
		return n;
	}
	if (header_value(data, n, "Retry-After", value, sizeof(value)) &&
	    t->retry_after_ms < 0) {
		secs = cmk_http_parse_retry_after(value, time(NULL));
		if (secs >= 0)
			t->retry_after_ms = (int64_t)secs * 1000;
	}
	return n;
}

static void try_free(struct http_try *t)
{
	const char *capture_name = t->capture_name;

	cmk_locked_free(t->body);
	cmk_locked_free(t->captured);
	memset(t, 0, sizeof(*t));
	t->retry_after_ms = -1;
	t->capture_name = capture_name;
}

/* The errno for a failed transfer, and whether another try may help. */
static int curl_failure(CURLcode rc, long os_errno, const struct http_try *t,
			bool *retry)
{
	*retry = false;
	if (t->oom)
		return -ENOMEM;
	if (t->too_big || t->headers_too_big)
		return -EPROTO;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		*retry = true;
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		*retry = true;
		if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
			return -EHOSTUNREACH;
		if (os_errno == ETIMEDOUT)
			return -ETIMEDOUT;
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR: /* a handshake cut off */
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		*retry = true;
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
		/* We refuse to talk to a server we cannot trust. */
		return -ECONNREFUSED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	default:
		return -EHOSTUNREACH;
	}
}

static bool status_transient(long status, const struct cmk_http_req *req)
{
	switch (status) {
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return true;
	case 404:
	case 410:
		return req->retry_not_found;
	default:
		return false;
	}
}

/* No "Expect: 100-continue" round trip; JSON answers only. */
static const char *const fixed_headers[] = { "Expect:",
					     "Accept: application/json" };

/* True when the request brings a header line starting with name. */
static bool has_header(const struct cmk_http_req *req, const char *name)
{
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		if (strncasecmp(req->headers[i], name, strlen(name)) == 0)
			return true;
	return false;
}

#define SETOPT(opt, val)                                    \
	do {                                                \
		if (rc == CURLE_OK)                         \
			rc = curl_easy_setopt(c, opt, val); \
	} while (0)

/* One try. Returns libcurl's code; *status is the HTTP status (0 without
 * an answer).
 *
 * Each try has a handle of its own, and so a connection of its own: when
 * the handle goes, libcurl closes the connection and frees its buffers and
 * OpenSSL's, all through allocators that wipe. Nothing of an answer (a
 * token, a key) outlives the try outside the caller's wiped buffer, at the
 * cost of a TLS handshake per request, which the few requests of a mount
 * can afford. */
static CURLcode try_once(struct cmk_http *h, const struct cmk_http_req *req,
			 int64_t timeout_ms, struct http_try *t,
			 char errbuf[CURL_ERROR_SIZE], long *status,
			 long *os_errno)
{
	struct curl_slist *list = NULL, *grown;
	CURLcode rc = CURLE_OK;
	CURL *c;

	errbuf[0] = '\0';
	*status = 0;
	*os_errno = 0;
	c = curl_easy_init();
	if (!c)
		return CURLE_OUT_OF_MEMORY;
	for (size_t i = 0; i < sizeof(fixed_headers) / sizeof(*fixed_headers);
	     i++) {
		/* A request's own Accept replaces ours: two would be joined
		 * into one list, which a server may not take as either. */
		if (strncasecmp(fixed_headers[i], "Accept:", 7) == 0 &&
		    has_header(req, "Accept:"))
			continue;
		grown = curl_slist_append(list, fixed_headers[i]);
		if (!grown) {
			rc = CURLE_OUT_OF_MEMORY;
			goto out;
		}
		list = grown;
	}
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		/* libcurl copies the line with cmk_locked_strdup(). */
		grown = curl_slist_append(list, req->headers[i]);
		if (!grown) {
			rc = CURLE_OUT_OF_MEMORY;
			goto out;
		}
		list = grown;
	}
	SETOPT(CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(CURLOPT_URL, req->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, req->plain_http ? "http,https" : "https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	/* Redirects are answers like any other: the caller refuses them. */
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->ca_file)
		SETOPT(CURLOPT_CAINFO, h->ca_file);
	SETOPT(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for time-outs */
	SETOPT(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	if (req->no_proxy)
		SETOPT(CURLOPT_NOPROXY, "*");
	SETOPT(CURLOPT_USERAGENT, HTTP_USER_AGENT);
	SETOPT(CURLOPT_HTTPHEADER, list);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, t);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, t);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CMK_HTTP_BODY_MAX);
	if (strcmp(req->method, "POST") == 0) {
		SETOPT(CURLOPT_POST, 1L);
		/* Not COPYPOSTFIELDS: the body stays in the caller's wiped
		 * buffer only. */
		SETOPT(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE,
		       (curl_off_t)(req->body ? req->body_len : 0));
	} else {
		SETOPT(CURLOPT_HTTPGET, 1L);
	}
	if (rc != CURLE_OK)
		goto out;
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, os_errno);
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(list);
	return rc;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int cmk_http_request(struct cmk_http *h, const struct cmk_http_req *req,
		     int64_t deadline_ms, struct cmk_http_resp *resp,
		     struct cmk_err *err)
{
	char errbuf[CURL_ERROR_SIZE], why[CURL_ERROR_SIZE + 96];
	char shown[256];
	struct http_try t;
	int64_t start = cmk_http_now_ms(), now, left, wait;
	long status = 0, os_errno = 0;
	CURLcode rc = CURLE_OK;
	unsigned int jitter;
	bool again;
	int ret = 0;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	memset(&t, 0, sizeof(t));
	t.retry_after_ms = -1;
	t.capture_name = req->capture_header;
	cmk_http_url_for_msg(req->url, shown, sizeof(shown));
	for (;;) {
		now = cmk_http_now_ms();
		left = deadline_ms - now;
		if (left < HTTP_MIN_TRY_MS) {
			if (resp->tries == 0) {
				ret = -ETIMEDOUT;
				snprintf(why, sizeof(why),
					 "no time left for the request");
			}
			break;
		}
		try_free(&t);
		rc = try_once(h, req,
			      left < (int64_t)h->timeout * 1000
				      ? left
				      : (int64_t)h->timeout * 1000,
			      &t, errbuf, &status, &os_errno);
		resp->tries++;
		if (rc == CURLE_OK) {
			ret = 0;
			again = status_transient(status, req);
		} else {
			/* libcurl's own refusal of a long Content-Length. */
			if (rc == CURLE_FILESIZE_EXCEEDED)
				t.too_big = true;
			ret = curl_failure(rc, os_errno, &t, &again);
			if (t.too_big)
				snprintf(why, sizeof(why),
					 "the answer is larger than %u bytes",
					 CMK_HTTP_BODY_MAX);
			else if (t.headers_too_big)
				snprintf(why, sizeof(why),
					 "the answer's headers are larger "
					 "than %u bytes",
					 CMK_HTTP_HEADERS_MAX);
			else
				snprintf(why, sizeof(why), "%s%s",
					 errbuf[0] ? errbuf
						   : curl_easy_strerror(rc),
					 rc == CURLE_PEER_FAILED_VERIFICATION
						 ? " (certificate refused: "
						   "check the URL's host "
						   "name and ca_file)"
						 : "");
		}
		if (!again || resp->tries > h->retries)
			break;
		cmk_random(&jitter, sizeof(jitter));
		wait = cmk_http_backoff_ms(
			resp->tries, rc == CURLE_OK ? t.retry_after_ms : -1,
			jitter);
		if (cmk_http_now_ms() + wait + HTTP_MIN_TRY_MS > deadline_ms) {
			resp->gave_up_waiting = true;
			break;
		}
		sleep_ms(wait);
	}
	if (ret == 0) {
		resp->status = status;
		resp->body = t.body;
		resp->len = t.len;
		resp->retry_after_ms = t.retry_after_ms;
		memcpy(resp->location, t.location, sizeof(resp->location));
		resp->captured = t.captured;
		resp->captured_len = t.captured_len;
		t.body = NULL;
		t.captured = NULL;
		if (!resp->body) {
			/* Callers may always read a string. */
			resp->body = cmk_locked_calloc(1, 1);
			if (!resp->body)
				ret = cmk_err_set(err, -ENOMEM,
						  "out of memory");
		}
	} else {
		cmk_err_set(err, ret, "%s %s: %s (%u %s in %.1f s)",
			    req->method, shown, why, resp->tries,
			    resp->tries == 1 ? "try" : "tries",
			    (double)(cmk_http_now_ms() - start) / 1000.0);
	}
	try_free(&t);
	return ret;
}
