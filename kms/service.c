/* SPDX-License-Identifier: MIT */
/* What the HTTPS key-service providers share (see service.h). */
#include "kms/service.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "crypto/crypto.h"
#include "kms/kms.h"

int64_t cmk_svc_deadline(unsigned int timeout)
{
	unsigned int secs = timeout > CMK_KMS_BUDGET ? timeout : CMK_KMS_BUDGET;

	return cmk_http_now_ms() + 1000 * (int64_t)secs;
}

bool cmk_svc_token_fresh(int64_t now_ms, int64_t obtained_ms,
			 int64_t expires_ms)
{
	int64_t margin = (expires_ms - obtained_ms) / 2;

	if (margin > CMK_KMS_TOKEN_RENEW_MAX * 1000)
		margin = CMK_KMS_TOKEN_RENEW_MAX * 1000;
	if (margin < 0)
		margin = 0;
	return now_ms < expires_ms - margin;
}

/* n digits at s as a number; false unless all are digits. */
static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool cmk_svc_parse_time(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, zh = 0, zm = 0, sign = 0;
	struct tm tm = { 0 };
	time_t t;

	if (strlen(s) < 19 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	s += 19;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '+' ? 1 : -1;
		if (!digits(s + 1, 2, &zh) || s[3] != ':' ||
		    !digits(s + 4, 2, &zm) || zh > 23 || zm > 59)
			return false;
		s += 6;
	}
	if (*s || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 && !(y == 1969 && mo == 12 && d == 31))
		return false;
	*out = (int64_t)t - sign * (zh * 3600 + zm * 60);
	return true;
}

json_t *cmk_svc_json(const struct cmk_http_resp *resp)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, &jerr);
	cmk_cleanse(&jerr, sizeof(jerr));
	if (root && !json_is_object(root)) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

char *cmk_svc_concat(bool secure, size_t *cap, const char *const *parts)
{
	size_t len = 1, off = 0;
	char *buf;

	for (size_t i = 0; parts[i]; i++)
		len += strlen(parts[i]);
	buf = secure ? cmk_secure_alloc(len) : cmk_locked_malloc(len);
	if (!buf)
		return NULL;
	for (size_t i = 0; parts[i]; i++) {
		size_t n = strlen(parts[i]);

		memcpy(buf + off, parts[i], n);
		off += n;
	}
	buf[off] = '\0';
	*cap = len;
	return buf;
}

bool cmk_svc_token_chars_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
			return false;
	return len > 0;
}

int cmk_svc_redirect(const char *shown, const struct cmk_http_resp *resp,
		     struct cmk_err *err)
{
	char host[128] = "an unnamed place";
	const char *p = strstr(resp->location, "://");

	if (p) {
		p += 3;
		cmk_http_printable(p, strcspn(p, "/?#"), sizeof(host) - 4, host,
				   sizeof(host));
	}
	return cmk_err_set(err, -EPROTO,
			   "%s: redirected (HTTP %ld) to %s; cmkfs follows "
			   "no redirects (check the URL in the config)",
			   shown, resp->status, host);
}

void cmk_svc_tries_text(const struct cmk_http_resp *resp, char *out,
			size_t size)
{
	if (resp->gave_up_waiting && resp->retry_after_ms >= 0)
		snprintf(out, size,
			 " (%u %s; Retry-After %" PRId64
			 " s runs past the time left)",
			 resp->tries, resp->tries == 1 ? "try" : "tries",
			 (resp->retry_after_ms + 999) / 1000);
	else
		snprintf(out, size, " (%u %s)", resp->tries,
			 resp->tries == 1 ? "try" : "tries");
}

int cmk_svc_base64_key(const char *value, size_t value_len, uint8_t *cmk,
		       const char *what, struct cmk_err *err)
{
	size_t key_len = 0;
	char why[64];
	int ret = -EINVAL;

	/* Checked before decoding: the decoder works in locked memory, and
	 * a huge value must not drain it. */
	if (value_len <= CMK_KMS_VALUE_MAX)
		ret = cmk_base64_decode(value, value_len, cmk, CMK_KEY_LEN,
					&key_len);
	if (ret == 0 && key_len == CMK_KEY_LEN)
		return 0;
	cmk_cleanse(cmk, CMK_KEY_LEN);
	if (ret == -ENOMEM)
		return cmk_err_set(err, ret, "out of locked memory");
	if (value_len > CMK_KMS_VALUE_MAX)
		snprintf(why, sizeof(why), "%zu characters long", value_len);
	else if (ret == -EMSGSIZE)
		snprintf(why, sizeof(why), "more than %d bytes", CMK_KEY_LEN);
	else if (ret == 0 && key_len)
		snprintf(why, sizeof(why), "%zu bytes", key_len);
	else
		snprintf(why, sizeof(why), "not base64");
	return cmk_err_set(err, -EINVAL,
			   "%s: the secret's value must be the base64 of a "
			   "%d-byte key (it is %s)",
			   what, CMK_KEY_LEN, why);
}

int cmk_svc_b64url_encode(const uint8_t *in, size_t len, char *out,
			  size_t out_size)
{
	int ret = cmk_base64_encode(in, len, out, out_size);
	size_t n;

	if (ret)
		return ret;
	n = strlen(out);
	while (n && out[n - 1] == '=')
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(out[i] == '+'	? '-'
				: out[i] == '/' ? '_'
						: out[i]);
	return 0;
}

int cmk_svc_b64url_decode(const char *in, size_t in_len, uint8_t *out,
			  size_t out_size, size_t *out_len)
{
	size_t cap = in_len + 4;
	char *std;
	int ret = -EINVAL;

	if (in_len > 4 * CMK_KMS_WRAPPED_MAX || in_len % 4 == 1)
		return -EINVAL;
	std = cmk_secure_alloc(cap);
	if (!std)
		return -ENOMEM;
	for (size_t i = 0; i < in_len; i++) {
		char c = in[i];

		if (c == '+' || c == '/' || c == '=')
			goto out; /* not base64url */
		std[i] = (char)(c == '-' ? '+' : c == '_' ? '/' : c);
	}
	memcpy(std + in_len, "===", (4 - in_len % 4) % 4);
	ret = cmk_base64_decode(std, in_len + (4 - in_len % 4) % 4, out,
				out_size, out_len);
out:
	cmk_secure_free(std, cap);
	return ret;
}

/* --- a cached access token --------------------------------------------------
 */

void cmk_svc_token_init(struct cmk_svc_token *t, const char *header,
			cmk_svc_token_fn get, void *ctx)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->header = header;
	t->get = get;
	t->ctx = ctx;
}

void cmk_svc_token_destroy(struct cmk_svc_token *t)
{
	cmk_secure_free(t->value, t->cap);
	t->value = NULL;
	pthread_mutex_destroy(&t->lock);
}

/* The header line with the token, in a block that cmk_locked_free() wipes
 * (*line), and the generation of the token in it. renew_gen: the
 * generation the service just refused, replaced unless another thread has
 * done so already; 0: none. */
static int token_line(struct cmk_svc_token *t, int64_t deadline,
		      uint64_t renew_gen, char **line, uint64_t *gen,
		      struct cmk_err *err)
{
	char *value = NULL;
	size_t cap = 0, line_cap;
	int64_t lifetime = 0, now_ms;
	int ret = 0;

	*line = NULL;
	pthread_mutex_lock(&t->lock);
	if (!t->value || (renew_gen && t->gen == renew_gen) ||
	    !cmk_svc_token_fresh(cmk_http_now_ms(), t->obtained_ms,
				 t->expires_ms)) {
		ret = t->get(t->ctx, deadline, &value, &cap, &lifetime, err);
		if (ret == 0) {
			now_ms = cmk_http_now_ms();
			cmk_secure_free(t->value, t->cap);
			t->value = value;
			t->cap = cap;
			t->obtained_ms = now_ms;
			t->expires_ms = lifetime > 0 ? now_ms + lifetime * 1000
						     : INT64_MAX;
			t->gen++;
		}
	}
	if (ret == 0) {
		*line = cmk_svc_concat(false, &line_cap,
				       (const char *const[]){ t->header,
							      t->value, NULL });
		*gen = t->gen;
		if (!*line)
			ret = cmk_err_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int cmk_svc_authed_request(struct cmk_http *http, struct cmk_svc_token *t,
			   const struct cmk_http_req *req, long refused_status,
			   int64_t deadline, struct cmk_http_resp *resp,
			   struct cmk_err *err)
{
	struct cmk_http_req authed = *req;
	const char *headers[8] = { NULL };
	uint64_t gen = 0;
	char *line = NULL;
	size_t n = 1;
	int ret = 0;

	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		if (n + 1 >= sizeof(headers) / sizeof(headers[0]))
			return cmk_err_set(err, -E2BIG, "too many headers");
		headers[n++] = req->headers[i];
	}
	authed.headers = headers;
	for (int attempt = 0; attempt < 2; attempt++) {
		ret = token_line(t, deadline, attempt ? gen : 0, &line, &gen,
				 err);
		if (ret)
			return ret;
		headers[0] = line;
		ret = cmk_http_request(http, &authed, deadline, resp, err);
		cmk_locked_free(line);
		line = NULL;
		if (ret || resp->status != refused_status || attempt)
			return ret;
		cmk_log(LOG_DEBUG, CMK_MSG_GENERAL,
			"token refused (HTTP %ld), getting a new one",
			refused_status);
		cmk_http_resp_free(resp);
	}
	return ret;
}
