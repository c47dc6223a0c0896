/* SPDX-License-Identifier: MIT */
/* What the HTTPS key-service providers (azure, vault, barbican) share: the
 * time budget of an operation, a cached access token with renewal and one
 * retry on refusal, JSON answers, the base64 key check, and the texts of
 * messages. Not for use outside kms/ (tests excepted). */
#ifndef CMKFS_KMS_SERVICE_H
#define CMKFS_KMS_SERVICE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "kms/http.h"

/* One key-service operation (a fetch or a list, with the token it needs,
 * every retry and every wait) ends after this many seconds, or after one
 * timeout when that is longer: an unreachable service fails a mount in
 * bounded time. */
#define CMK_KMS_BUDGET 20
#define CMK_KMS_TOKEN_RENEW_MAX 300 /* renew a token at most this early (s) */
#define CMK_KMS_TOKEN_MAX (16u * 1024u)
#define CMK_KMS_VALUE_MAX 256 /* characters of a base64 key value */
#define CMK_KMS_MSG_MAX 160   /* characters of a server's error text quoted */

/* The deadline (cmk_http_now_ms() based) of an operation starting now. */
int64_t cmk_svc_deadline(unsigned int timeout);

/* True while a token obtained at obtained_ms and expiring at expires_ms
 * (monotonic) may still be used at now_ms: it is renewed early, by half
 * its lifetime or CMK_KMS_TOKEN_RENEW_MAX seconds, whichever is less. */
bool cmk_svc_token_fresh(int64_t now_ms, int64_t obtained_ms,
			 int64_t expires_ms);

/* Parses an RFC 3339 / ISO 8601 UTC time as services send it:
 * "2018-03-22T02:24:06.945319214Z", "2015-11-09T01:42:57.527363Z",
 * "2024-01-01T00:00:00" (no zone: UTC), "...+02:00". Seconds since the
 * epoch in *out; false for anything else. */
bool cmk_svc_parse_time(const char *s, int64_t *out);

/* An answer's body as a JSON object, or NULL. No message from jansson: its
 * text quotes the input, which may hold a key. */
json_t *cmk_svc_json(const struct cmk_http_resp *resp);

/* Joins NULL-terminated parts into a new string: in locked memory
 * (cmk_secure_alloc, *cap bytes) when secure, else in a block that
 * cmk_locked_free() wipes. NULL when out of memory. */
char *cmk_svc_concat(bool secure, size_t *cap, const char *const *parts);

/* A token or id that goes into a header line or a JSON string: printable
 * ASCII without blanks, quotes or backslashes, so that nothing can be
 * smuggled into the request. */
bool cmk_svc_token_chars_ok(const char *s, size_t len);

/* A redirect is refused, whatever its target: tokens go to the hosts the
 * config names and nowhere else. Only the target's host is quoted.
 * Returns -EPROTO. */
int cmk_svc_redirect(const char *shown, const struct cmk_http_resp *resp,
		     struct cmk_err *err);

/* " (N tries)" for an answer retried to the end, with the Retry-After
 * that ran past the time left, if that is why it ended. */
void cmk_svc_tries_text(const struct cmk_http_resp *resp, char *out,
			size_t size);

/* Decodes a key value that must be the base64 of CMK_KEY_LEN bytes into
 * cmk (wiped on failure). The value is never quoted: -EINVAL with a
 * message "WHAT: the secret's value must be the base64 of a 32-byte key
 * (it is ...)"; -ENOMEM. */
int cmk_svc_base64_key(const char *value, size_t value_len, uint8_t *cmk,
		       const char *what, struct cmk_err *err);

/* base64url without padding (RFC 4648 section 5), as Key Vault sends
 * keys and wrapped keys. encode: out_size >= 4 * ceil(len / 3) + 1.
 * decode: at most out_size bytes; -EINVAL, -EMSGSIZE, -ENOMEM. Both work
 * in locked memory: the bytes are usually a key. */
int cmk_svc_b64url_encode(const uint8_t *in, size_t len, char *out,
			  size_t out_size);
int cmk_svc_b64url_decode(const char *in, size_t in_len, uint8_t *out,
			  size_t out_size, size_t *out_len);

/* --- a cached access token --------------------------------------------------
 */

/* Gets a new token: *token in locked memory (cmk_secure_alloc, *cap
 * bytes, NUL-terminated) and its lifetime in seconds (0: no expiry known;
 * it is then used until refused). */
typedef int (*cmk_svc_token_fn)(void *ctx, int64_t deadline, char **token,
				size_t *cap, int64_t *lifetime,
				struct cmk_err *err);

struct cmk_svc_token {
	pthread_mutex_t lock; /* also serialises renewals */
	const char *header;   /* "X-Vault-Token: ", "Authorization: Bearer " */
	cmk_svc_token_fn get;
	void *ctx;
	char *value; /* locked memory; NULL: none yet */
	size_t cap;
	int64_t obtained_ms;
	int64_t expires_ms; /* INT64_MAX: no expiry */
	uint64_t gen;	    /* bumped on each new token */
};

void cmk_svc_token_init(struct cmk_svc_token *t, const char *header,
			cmk_svc_token_fn get, void *ctx);
void cmk_svc_token_destroy(struct cmk_svc_token *t);

/* Makes req with the token's header line added to req->headers (at most
 * 6 of them). An answer refused_status (401, or Vault's 403) gets a new
 * token and one more try. 0 with any answer in resp, or -errno. */
int cmk_svc_authed_request(struct cmk_http *http, struct cmk_svc_token *t,
			   const struct cmk_http_req *req, long refused_status,
			   int64_t deadline, struct cmk_http_resp *resp,
			   struct cmk_err *err);

#endif
