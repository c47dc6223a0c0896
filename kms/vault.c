/* SPDX-License-Identifier: MIT */
/* HashiCorp Vault and OpenBao (provider = vault): the CMK is a field of a
 * secret in a KV version 2 secrets engine, the base64 of the 256-bit key;
 * the secret's KV versions (1, 2, ...) are the CMK's versions.
 *
 *   GET  /v1/{kv_mount}/data/{path}[?version=N]   a version's data
 *   GET  /v1/{kv_mount}/metadata/{path}           every version's state
 *   POST /v1/auth/{auth_mount}/login              AppRole sign-in
 *
 * with X-Vault-Token and, for a namespace (Vault Enterprise, OpenBao),
 * X-Vault-Namespace. A soft-deleted or destroyed version (Vault answers 404
 * with its metadata) counts as disabled. Vault refuses a bad or expired
 * token with 403: that gets a new token (a new AppRole login, or the token
 * file read again, as Vault Agent rewrites it) and one more try. A sealed
 * Vault answers 503, which the HTTP core retries with backoff.
 *
 * The token and the secret_id live in locked memory; the login body is
 * built there. Messages quote URLs, status codes and Vault's "errors",
 * never a body, token or key. */
#include "kms/vault.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "crypto/crypto.h"
#include "kms/http.h"
#include "kms/provider.h"
#include "kms/service.h"

struct vt_state {
	struct cmk_conf_vault conf;
	struct cmk_http *http;
	char ns_header[CMK_VAULT_PATH_MAX + 32]; /* "" without a namespace */
	struct cmk_svc_token token;
};

/* --- pure helpers ----------------------------------------------------------
 */

int cmk_vault_version_usable(const char *deletion_time, bool destroyed,
			     int64_t now)
{
	int64_t when;

	if (destroyed)
		return 0;
	if (!deletion_time || !deletion_time[0])
		return 1;
	if (!cmk_svc_parse_time(deletion_time, &when))
		return -1;
	return now < when;
}

bool cmk_vault_version_id(int64_t number, char *out, size_t size)
{
	int n;

	if (number < 1 || number > ((int64_t)1 << 53))
		return false;
	n = snprintf(out, size, "%" PRId64, number);
	return n > 0 && (size_t)n < size;
}

void cmk_vault_errors_text(const char *body, size_t len, size_t max, char *out,
			   size_t size)
{
	struct cmk_http_resp resp = { .body = (char *)body, .len = len };
	json_t *root = cmk_svc_json(&resp), *errors, *e;
	size_t off = 0, i, quoted = 0;

	out[0] = '\0';
	errors = root ? json_object_get(root, "errors") : NULL;
	json_array_foreach (errors, i, e) {
		const char *s = json_string_value(e);
		char part[CMK_KMS_MSG_MAX + 4], flat[CMK_KMS_MSG_MAX + 4];
		size_t n = 0;

		if (!s || !*s)
			continue;
		if (quoted++ == CMK_VAULT_ERRORS_QUOTED)
			break;
		/* Vault's multierror texts span lines ("1 error occurred:\n\t*
		 * ..."): blanks of any kind become one space. */
		for (; *s && n + 1 < sizeof(flat); s++) {
			bool blank = *s == '\n' || *s == '\r' || *s == '\t' ||
				     *s == ' ';

			if (!blank)
				flat[n++] = *s;
			else if (n && flat[n - 1] != ' ')
				flat[n++] = ' ';
		}
		while (n && flat[n - 1] == ' ')
			n--;
		cmk_http_printable(flat, n, max, part, sizeof(part));
		off += (size_t)snprintf(out + off, size - off, "%s%s",
					off ? "; " : "", part);
		if (off >= size)
			break;
	}
	json_decref(root);
}

/* --- requests --------------------------------------------------------------
 */

static int vt_url(const struct vt_state *st, char *url, size_t size,
		  const char *kind, const char *version)
{
	const struct cmk_conf_vault *c = &st->conf;
	int n;

	/* kv_mount and path are checked by conf: URL-safe as they are. */
	n = snprintf(url, size, "%s/v1/%s/%s/%s%s%s", c->url, c->kv_mount, kind,
		     c->path, version ? "?version=" : "",
		     version ? version : "");
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* "HTTP 403: permission denied" from an answer, for messages. */
static void vt_status_text(const struct cmk_http_resp *resp, char *out,
			   size_t size)
{
	char errors[2 * CMK_KMS_MSG_MAX + 8];

	cmk_vault_errors_text(resp->body, resp->len, CMK_KMS_MSG_MAX, errors,
			      sizeof(errors));
	snprintf(out, size, "HTTP %ld%s%s", resp->status, errors[0] ? ": " : "",
		 errors);
}

/* An answer that is neither what was asked for nor a 404, as -errno. */
static int vt_error(const struct vt_state *st, const char *shown,
		    const struct cmk_http_resp *resp, struct cmk_err *err)
{
	char text[CMK_ERR_MSG_MAX], tail[96];

	if (resp->status >= 300 && resp->status < 400)
		return cmk_svc_redirect(shown, resp, err);
	vt_status_text(resp, text, sizeof(text));
	switch (resp->status) {
	case 401:
	case 403:
		return cmk_err_set(
			err, -EACCES,
			"%s: access denied (%s); does the token's "
			"policy allow read on %s/data/%s and "
			"%s/metadata/%s%s%s?",
			shown, text, st->conf.kv_mount, st->conf.path,
			st->conf.kv_mount, st->conf.path,
			st->conf.namespace_name[0] ? " in namespace " : "",
			st->conf.namespace_name);
	case 408:
	case 412: /* a performance standby not yet caught up */
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		cmk_svc_tries_text(resp, tail, sizeof(tail));
		if (resp->status == 503 && strstr(text, "sealed"))
			return cmk_err_set(err, -EHOSTUNREACH,
					   "%s: Vault is sealed (%s)%s", shown,
					   text, tail);
		return cmk_err_set(err, -EHOSTUNREACH, "%s: %s%s", shown, text,
				   tail);
	default:
		return cmk_err_set(err, -EPROTO, "%s: unexpected answer: %s",
				   shown, text);
	}
}

/* Reads the token file (cmk_svc_token_fn for auth = token): read again
 * whenever Vault refuses the token, as Vault Agent rewrites it. */
static int vt_token_file(void *ctx, int64_t deadline, char **token, size_t *cap,
			 int64_t *lifetime, struct cmk_err *err)
{
	struct vt_state *st = ctx;
	size_t len;
	int ret;

	(void)deadline;
	ret = cmk_kms_read_secret_file(st->conf.token_file, "token_file",
				       CMK_VAULT_SECRET_FILE_MAX, token, cap,
				       &len, err);
	if (ret)
		return ret;
	if (!cmk_svc_token_chars_ok(*token, len)) {
		cmk_secure_free(*token, *cap);
		*token = NULL;
		return cmk_err_set(err, -EINVAL,
				   "%s: token_file holds characters a Vault "
				   "token cannot have (blanks, quotes, control "
				   "characters)",
				   st->conf.token_file);
	}
	*lifetime = 0;
	return 0;
}

/* Posts a login body (locked memory) to URL/v1/auth/AUTH_MOUNT/login and
 * takes the client token (cmk_svc_token_fn's outputs). what names the
 * method in messages, check what to check when refused. */
static int vt_login(struct vt_state *st, const char *what, const char *check,
		    const char *body, int64_t deadline, char **token,
		    size_t *token_cap, int64_t *lifetime, struct cmk_err *err)
{
	const struct cmk_conf_vault *c = &st->conf;
	char url[CMK_HTTP_URL_MAX], shown[256], text[CMK_ERR_MSG_MAX];
	const char *headers[3] = { "Content-Type: application/json", NULL,
				   NULL };
	struct cmk_http_req req = { .method = "POST", .headers = headers };
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *auth, *v;
	const char *tok;
	size_t tok_len;
	int ret;
	int n;

	n = snprintf(url, sizeof(url), "%s/v1/auth/%s/login", c->url,
		     c->auth_mount);
	if (n < 0 || (size_t)n >= sizeof(url))
		return cmk_err_set(err, -ENAMETOOLONG, "%s login: URL too long",
				   what);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	if (st->ns_header[0])
		headers[1] = st->ns_header;
	req.url = url;
	req.body = body;
	req.body_len = strlen(body);
	ret = cmk_http_request(st->http, &req, deadline, &resp, err);
	if (ret) {
		cmk_err_prefix(err, "%s login: ", what);
		goto out;
	}
	if (resp.status == 400 || resp.status == 401 || resp.status == 403) {
		vt_status_text(&resp, text, sizeof(text));
		ret = cmk_err_set(err, -EACCES,
				  "%s login at %s refused: %s (check %s)", what,
				  shown, text, check);
		goto out;
	}
	if (resp.status != 200) {
		ret = vt_error(st, shown, &resp, err);
		cmk_err_prefix(err, "%s login: ", what);
		goto out;
	}
	root = cmk_svc_json(&resp);
	auth = root ? json_object_get(root, "auth") : NULL;
	v = auth ? json_object_get(auth, "client_token") : NULL;
	tok = json_string_value(v);
	tok_len = tok ? json_string_length(v) : 0;
	if (!tok || tok_len > CMK_KMS_TOKEN_MAX ||
	    !cmk_svc_token_chars_ok(tok, tok_len)) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s login at %s: the answer holds no "
				  "client token",
				  what, shown);
		goto out;
	}
	v = json_object_get(auth, "lease_duration");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 366 * 86400) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s login at %s: the token's "
				  "lease_duration is missing or out of range",
				  what, shown);
		goto out;
	}
	*lifetime = json_integer_value(v);
	*token_cap = tok_len + 1;
	*token = cmk_secure_alloc(*token_cap);
	if (!*token) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	memcpy(*token, tok, tok_len + 1);
	cmk_log(LOG_DEBUG, CMK_MSG_GENERAL,
		"vault: %s login at %s, token valid for %" PRId64 " s", what,
		shown, *lifetime);
	ret = 0;
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

/* Signs in with AppRole (cmk_svc_token_fn for auth = approle). */
static int vt_approle_login(void *ctx, int64_t deadline, char **token,
			    size_t *token_cap, int64_t *lifetime,
			    struct cmk_err *err)
{
	struct vt_state *st = ctx;
	const struct cmk_conf_vault *c = &st->conf;
	char *secret_id = NULL, *body = NULL;
	size_t secret_cap = 0, secret_len = 0, body_cap = 0;
	int ret;

	/* Read for each login: an orchestrator may replace it. */
	ret = cmk_kms_read_secret_file(c->secret_id_file, "secret_id_file",
				       CMK_VAULT_SECRET_FILE_MAX, &secret_id,
				       &secret_cap, &secret_len, err);
	if (ret)
		return ret;
	if (!cmk_svc_token_chars_ok(secret_id, secret_len)) {
		ret = cmk_err_set(err, -EINVAL,
				  "%s: secret_id_file holds characters a "
				  "secret ID cannot have (blanks, quotes, "
				  "control characters)",
				  c->secret_id_file);
		goto out;
	}
	/* role_id is checked by conf; the body only in locked memory. */
	body = cmk_svc_concat(true, &body_cap,
			      (const char *const[]){ "{\"role_id\":\"",
						     c->role_id,
						     "\",\"secret_id\":\"",
						     secret_id, "\"}", NULL });
	if (!body) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	ret = vt_login(st, "AppRole", "role_id and secret_id_file", body,
		       deadline, token, token_cap, lifetime, err);
out:
	cmk_secure_free(body, body_cap);
	cmk_secure_free(secret_id, secret_cap);
	return ret;
}

static int vt_get(struct vt_state *st, const char *url, int64_t deadline,
		  struct cmk_http_resp *resp, struct cmk_err *err)
{
	const char *headers[2] = { st->ns_header[0] ? st->ns_header : NULL,
				   NULL };
	struct cmk_http_req req = { .method = "GET",
				    .url = url,
				    .headers = headers };

	return cmk_svc_authed_request(st->http, &st->token, &req, 403, deadline,
				      resp, err);
}

/* "version N of PATH" or "the current version of PATH", with the service,
 * for messages. */
static void vt_what(const struct vt_state *st, const char *version, char *out,
		    size_t size)
{
	const struct cmk_conf_vault *c = &st->conf;

	/* Cut when long: a message, not a name. */
	if (snprintf(out, size, "%s%s of secret %s/%s in %s%s%s",
		     version ? "version " : "the current version",
		     version ? version : "", c->kv_mount, c->path, c->url,
		     c->namespace_name[0] ? " namespace " : "",
		     c->namespace_name) < 0)
		out[0] = '\0';
}

/* --- listing ---------------------------------------------------------------
 */

static int cmp_versions(const void *a, const void *b)
{
	const struct cmk_kms_version *x = a, *y = b;
	size_t lx = strlen(x->id), ly = strlen(y->id);

	/* Newest first: decimal ids, the longer the larger. */
	if (lx != ly)
		return lx > ly ? -1 : 1;
	return -strcmp(x->id, y->id);
}

static int vt_transit_list(struct vt_state *st,
			   struct cmk_kms_version **versions, size_t *count,
			   struct cmk_err *err);

static int vt_list(void *state, struct cmk_kms_version **versions,
		   size_t *count, struct cmk_err *err)
{
	struct vt_state *st = state;
	int64_t deadline, now = (int64_t)time(NULL), number, created;
	char url[CMK_HTTP_URL_MAX], shown[256], what[CMK_ERR_MSG_MAX];
	struct cmk_kms_version *list = NULL;
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *data, *map, *item, *v;
	const char *key, *deleted;
	char *end;
	size_t n = 0;
	int ret, usable;

	if (st->conf.transit_key[0])
		return vt_transit_list(st, versions, count, err);
	deadline = cmk_svc_deadline(st->conf.https.timeout);
	ret = vt_url(st, url, sizeof(url), "metadata", NULL);
	if (ret)
		return cmk_err_set(err, ret, "%s: metadata URL too long",
				   st->conf.url);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = vt_get(st, url, deadline, &resp, err);
	if (ret)
		goto out;
	if (resp.status == 404) {
		vt_what(st, NULL, what, sizeof(what));
		ret = cmk_err_set(
			err, -ENOKEY,
			"no secret %s/%s in %s%s%s (is %s a KV "
			"version 2 mount?)",
			st->conf.kv_mount, st->conf.path, st->conf.url,
			st->conf.namespace_name[0] ? " namespace " : "",
			st->conf.namespace_name, st->conf.kv_mount);
		goto out;
	}
	if (resp.status != 200) {
		ret = vt_error(st, shown, &resp, err);
		goto out;
	}
	root = cmk_svc_json(&resp);
	data = root ? json_object_get(root, "data") : NULL;
	map = data ? json_object_get(data, "versions") : NULL;
	if (!json_is_object(map) ||
	    json_object_size(map) > CMK_VAULT_VERSIONS_MAX) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer has no list of versions (or "
				  "more than %d)",
				  shown, CMK_VAULT_VERSIONS_MAX);
		goto out;
	}
	list = calloc(json_object_size(map) + 1, sizeof(*list));
	if (!list) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_object_foreach (map, key, item) {
		struct cmk_kms_version *ver = &list[n];

		errno = 0;
		number = isdigit((unsigned char)key[0]) ? strtoll(key, &end, 10)
							: -1;
		deleted = json_string_value(
			json_object_get(item, "deletion_time"));
		v = json_object_get(item, "destroyed");
		if (errno || number < 0 || *end ||
		    !cmk_vault_version_id(number, ver->id, sizeof(ver->id)) ||
		    !json_is_object(item) || !deleted || !json_is_boolean(v) ||
		    (usable = cmk_vault_version_usable(deleted, json_is_true(v),
						       now)) < 0) {
			ret = cmk_err_set(err, -EPROTO,
					  "%s: a listed version is malformed",
					  shown);
			goto out;
		}
		ver->enabled = usable == 1;
		v = json_object_get(item, "created_time");
		ver->created =
			json_is_string(v) &&
					cmk_svc_parse_time(json_string_value(v),
							   &created)
				? created
				: 0;
		n++;
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp_versions);
	*versions = list;
	*count = n;
	list = NULL;
	ret = 0;
out:
	free(list);
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

/* --- fetching --------------------------------------------------------------
 */

/* A 404 for a version: deleted or destroyed when Vault sent the version's
 * metadata with it, else missing. */
static int vt_not_found(const struct vt_state *st, const char *version,
			json_t *root, struct cmk_err *err)
{
	json_t *data = root ? json_object_get(root, "data") : NULL;
	json_t *meta = data ? json_object_get(data, "metadata") : NULL;
	char what[CMK_ERR_MSG_MAX], shown_ver[32] = "";
	const char *deleted;

	vt_what(st, version, what, sizeof(what));
	if (json_is_object(meta)) {
		json_int_t number =
			json_integer_value(json_object_get(meta, "version"));

		if (!version && number > 0)
			snprintf(shown_ver, sizeof(shown_ver),
				 " (version %" JSON_INTEGER_FORMAT ")", number);
		if (json_is_true(json_object_get(meta, "destroyed")))
			return cmk_err_set(err, -EACCES, "%s%s is destroyed",
					   what, shown_ver);
		deleted = json_string_value(
			json_object_get(meta, "deletion_time"));
		return cmk_err_set(err, -EACCES,
				   "%s%s is deleted (deletion_time %s; vault "
				   "kv undelete restores it)",
				   what, shown_ver,
				   deleted && *deleted ? deleted : "unknown");
	}
	if (version)
		return cmk_err_set(err, -ENOENT, "%s does not exist", what);
	return cmk_err_set(err, -ENOKEY,
			   "no secret %s/%s in %s (is %s a KV version 2 "
			   "mount?)",
			   st->conf.kv_mount, st->conf.path, st->conf.url,
			   st->conf.kv_mount);
}

static int vt_fetch_version(struct vt_state *st, const char *version,
			    int64_t deadline, uint8_t *cmk,
			    char version_out[CMK_KMS_VERSION_MAX + 1],
			    struct cmk_err *err)
{
	char url[CMK_HTTP_URL_MAX], shown[256], what[CMK_ERR_MSG_MAX];
	char got[CMK_KMS_VERSION_MAX + 1];
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *data, *meta, *fields, *v;
	int ret, usable;

	ret = vt_url(st, url, sizeof(url), "data", version);
	if (ret)
		return cmk_err_set(err, ret, "%s: secret URL too long",
				   st->conf.url);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = vt_get(st, url, deadline, &resp, err);
	if (ret)
		goto out;
	if (resp.status == 404) {
		root = cmk_svc_json(&resp);
		ret = vt_not_found(st, version, root, err);
		goto out;
	}
	if (resp.status != 200) {
		ret = vt_error(st, shown, &resp, err);
		goto out;
	}
	vt_what(st, version, what, sizeof(what));
	root = cmk_svc_json(&resp);
	data = root ? json_object_get(root, "data") : NULL;
	meta = data ? json_object_get(data, "metadata") : NULL;
	fields = data ? json_object_get(data, "data") : NULL;
	v = meta ? json_object_get(meta, "version") : NULL;
	if (!json_is_object(meta) || !json_is_object(fields) ||
	    !json_is_integer(v) ||
	    !cmk_vault_version_id(json_integer_value(v), got, sizeof(got))) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer is not a KV version 2 secret "
				  "(is %s a KV version 2 mount?)",
				  shown, st->conf.kv_mount);
		goto out;
	}
	if (version && strcmp(version, got) != 0) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer is for version %s", shown,
				  got);
		goto out;
	}
	usable = cmk_vault_version_usable(
		json_string_value(json_object_get(meta, "deletion_time")),
		json_is_true(json_object_get(meta, "destroyed")),
		(int64_t)time(NULL));
	if (usable != 1) {
		ret = usable < 0 ? cmk_err_set(err, -EPROTO,
					       "%s: malformed deletion_time",
					       shown)
				 : cmk_err_set(err, -EACCES,
					       "%s (%s) is deleted", what, got);
		goto out;
	}
	v = json_object_get(fields, st->conf.field);
	if (!json_is_string(v)) {
		ret = cmk_err_set(err, -EINVAL,
				  "%s (%s) has no text field '%s' (set "
				  "field = in the config)",
				  what, got, st->conf.field);
		goto out;
	}
	snprintf(what + strlen(what), sizeof(what) - strlen(what),
		 " (%s), field '%s'", got, st->conf.field);
	ret = cmk_svc_base64_key(json_string_value(v), json_string_length(v),
				 cmk, what, err);
	if (ret)
		goto out;
	if (version_out)
		strcpy(version_out, got);
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

static int vt_fetch(void *state, const char *version, uint8_t *cmk,
		    char version_out[CMK_KMS_VERSION_MAX + 1],
		    struct cmk_err *err)
{
	struct vt_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	struct cmk_kms_version *list = NULL;
	size_t n = 0, i;
	int ret;

	if (version && strspn(version, "0123456789") != strlen(version))
		return cmk_err_set(err, -ENOENT,
				   "version '%s' is not a Vault KV version "
				   "number (was the volume made with another "
				   "key service?)",
				   version);
	ret = vt_fetch_version(st, version, deadline, cmk, version_out, err);
	if (version || ret != -EACCES)
		return ret;
	/* The current version is deleted: the newest one that is not. */
	ret = vt_list(st, &list, &n, err);
	if (ret)
		return ret;
	for (i = 0; i < n && !list[i].enabled; i++)
		;
	if (i == n)
		ret = cmk_err_set(err, -EACCES,
				  "no version of secret %s/%s in %s is usable "
				  "(all %zu are deleted or destroyed)",
				  st->conf.kv_mount, st->conf.path,
				  st->conf.url, n);
	else
		ret = vt_fetch_version(st, list[i].id, deadline, cmk,
				       version_out, err);
	free(list);
	return ret;
}

/* --- the provider ----------------------------------------------------------
 */

/* --- Transit: envelope mode (transit_key = NAME) -----------------------------
 * The CMK is a Transit key: Vault encrypts the volume key at init,
 * decrypts it at mount and re-wraps it with its newest version (rewrap),
 * without ever exporting the key. The wrapped form is Vault's ciphertext
 * string "vault:vN:...", kept as it is. */

#define VT_TRANSIT_ALG "vault-transit"
#define VT_CIPHERTEXT_MAX 512 /* characters of a ciphertext string */

static bool vt_envelope(const struct cmk_conf *conf)
{
	return conf->vault.transit_key[0] != '\0';
}

/* URL/v1/TRANSIT_MOUNT/OP/TRANSIT_KEY (checked by conf: URL-safe). */
static int vt_transit_url(const struct vt_state *st, char *url, size_t size,
			  const char *op)
{
	const struct cmk_conf_vault *c = &st->conf;
	int n = snprintf(url, size, "%s/v1/%s/%s/%s", c->url, c->transit_mount,
			 op, c->transit_key);

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* A Transit answer other than 200 as -errno: Vault's texts say which. */
static int vt_transit_error(const struct vt_state *st, const char *shown,
			    const char *op, const struct cmk_http_resp *resp,
			    struct cmk_err *err)
{
	const struct cmk_conf_vault *c = &st->conf;
	char text[CMK_ERR_MSG_MAX];

	vt_status_text(resp, text, sizeof(text));
	if (resp->status == 403)
		return cmk_err_set(err, -EACCES,
				   "%s: %s with Transit key '%s' denied (%s); "
				   "does the token's policy allow update on "
				   "%s/%s/%s%s%s?",
				   shown, op, c->transit_key, text,
				   c->transit_mount, op, c->transit_key,
				   c->namespace_name[0] ? " in namespace " : "",
				   c->namespace_name);
	if (resp->status == 400 && strstr(text, "disallowed by policy"))
		return cmk_err_set(err, -EACCES,
				   "%s: %s: the version is below Transit key "
				   "'%s''s min_decryption_version (%s)",
				   shown, op, c->transit_key, text);
	if ((resp->status == 400 || resp->status == 404) &&
	    (strstr(text, "not found") || strstr(text, "no existing key")))
		return cmk_err_set(err, -ENOENT, "%s: no Transit key '%s' (%s)",
				   shown, c->transit_key, text);
	if (resp->status == 400)
		return cmk_err_set(err, -EBADMSG, "%s: %s refused (%s)", shown,
				   op, text);
	return vt_error(st, shown, resp, err);
}

/* POSTs body (locked memory) to the Transit op and returns its "data". */
static int vt_transit_post(struct vt_state *st, const char *op,
			   const char *body, int64_t deadline,
			   struct cmk_http_resp *resp, json_t **root,
			   json_t **data, struct cmk_err *err)
{
	const char *headers[3] = { "Content-Type: application/json",
				   st->ns_header[0] ? st->ns_header : NULL,
				   NULL };
	struct cmk_http_req req = { .method = "POST", .headers = headers };
	char url[CMK_HTTP_URL_MAX], shown[256];
	int ret;

	*root = NULL;
	ret = vt_transit_url(st, url, sizeof(url), op);
	if (ret)
		return cmk_err_set(err, ret, "%s: Transit URL too long",
				   st->conf.url);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	req.url = url;
	req.body = body;
	req.body_len = strlen(body);
	ret = cmk_svc_authed_request(st->http, &st->token, &req, 403, deadline,
				     resp, err);
	cmk_log(LOG_INFO, CMK_MSG_GENERAL, "vault: transit %s %s: %s%ld", op,
		shown, ret ? "failed, " : "HTTP ",
		ret ? (long)-ret : resp->status);
	if (ret)
		return ret;
	if (resp->status != 200)
		return vt_transit_error(st, shown, op, resp, err);
	*root = cmk_svc_json(resp);
	*data = *root ? json_object_get(*root, "data") : NULL;
	if (!json_is_object(*data))
		return cmk_err_set(err, -EPROTO, "%s: the answer has no data",
				   shown);
	return 0;
}

/* The ciphertext and key_version of an encrypt or rewrap answer. */
static int vt_take_ciphertext(const struct vt_state *st, json_t *data,
			      struct cmk_kms_wrapped *out, struct cmk_err *err)
{
	json_t *ct = json_object_get(data, "ciphertext");
	json_t *kv = json_object_get(data, "key_version");
	char prefix[CMK_KMS_VERSION_MAX + 16];
	const char *s = json_string_value(ct);
	size_t len = s ? json_string_length(ct) : 0;

	if (!s || len == 0 || len > VT_CIPHERTEXT_MAX ||
	    len > sizeof(out->blob) || !cmk_svc_token_chars_ok(s, len) ||
	    !json_is_integer(kv) ||
	    !cmk_vault_version_id(json_integer_value(kv), out->version,
				  sizeof(out->version)))
		return cmk_err_set(err, -EPROTO,
				   "Transit key '%s': the answer holds no "
				   "ciphertext and key_version",
				   st->conf.transit_key);
	/* The version in the ciphertext must be the one reported. */
	snprintf(prefix, sizeof(prefix), "vault:v%s:", out->version);
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		return cmk_err_set(err, -EPROTO,
				   "Transit key '%s': the ciphertext is not "
				   "of version %s",
				   st->conf.transit_key, out->version);
	strcpy(out->alg, VT_TRANSIT_ALG);
	memcpy(out->blob, s, len);
	out->len = len;
	return 0;
}

static int vt_wrap(void *state, const uint8_t *key, struct cmk_kms_wrapped *out,
		   struct cmk_err *err)
{
	struct vt_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	size_t b64_cap = 4 * (CMK_KEY_LEN / 3 + 1) + 1, body_cap = 0;
	char *b64 = cmk_secure_alloc(b64_cap), *body = NULL;
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *data = NULL;
	int ret = -ENOMEM;

	if (b64 && cmk_base64_encode(key, CMK_KEY_LEN, b64, b64_cap) == 0)
		body = cmk_svc_concat(
			true, &body_cap,
			(const char *const[]){ "{\"plaintext\":\"", b64, "\"}",
					       NULL });
	if (!body) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	ret = vt_transit_post(st, "encrypt", body, deadline, &resp, &root,
			      &data, err);
	if (ret == 0)
		ret = vt_take_ciphertext(st, data, out, err);
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	cmk_secure_free(body, body_cap);
	cmk_secure_free(b64, b64_cap);
	return ret;
}

/* {"ciphertext": "..."}: a ciphertext is printable, without quotes. */
static int vt_ciphertext_body(const struct vt_state *st,
			      const struct cmk_kms_wrapped *in, char *body,
			      size_t size, struct cmk_err *err)
{
	char ct[VT_CIPHERTEXT_MAX + 1];
	int n;

	if (strcmp(in->alg, VT_TRANSIT_ALG) != 0 ||
	    in->len > VT_CIPHERTEXT_MAX ||
	    !cmk_svc_token_chars_ok((const char *)in->blob, in->len))
		return cmk_err_set(err, -EBADMSG,
				   "the wrapped volume key is not a Transit "
				   "ciphertext of key '%s'",
				   st->conf.transit_key);
	memcpy(ct, in->blob, in->len);
	ct[in->len] = '\0';
	n = snprintf(body, size, "{\"ciphertext\":\"%s\"}", ct);
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

static int vt_unwrap(void *state, const struct cmk_kms_wrapped *in,
		     uint8_t *key, struct cmk_err *err)
{
	struct vt_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	char body[VT_CIPHERTEXT_MAX + 32];
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *data = NULL, *pt;
	char what[CMK_VAULT_FIELD_MAX + CMK_KMS_VERSION_MAX + 40];
	int ret;

	ret = vt_ciphertext_body(st, in, body, sizeof(body), err);
	if (ret == 0)
		ret = vt_transit_post(st, "decrypt", body, deadline, &resp,
				      &root, &data, err);
	if (ret)
		goto out;
	pt = json_object_get(data, "plaintext");
	snprintf(what, sizeof(what), "Transit key '%s' version %s",
		 st->conf.transit_key, in->version);
	if (!json_is_string(pt)) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer holds no "
				  "plaintext",
				  what);
		goto out;
	}
	ret = cmk_svc_base64_key(json_string_value(pt), json_string_length(pt),
				 key, what, err);
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

static int vt_rewrap(void *state, const struct cmk_kms_wrapped *in,
		     struct cmk_kms_wrapped *out, struct cmk_err *err)
{
	struct vt_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	char body[VT_CIPHERTEXT_MAX + 32];
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *data = NULL;
	int ret;

	ret = vt_ciphertext_body(st, in, body, sizeof(body), err);
	if (ret == 0)
		ret = vt_transit_post(st, "rewrap", body, deadline, &resp,
				      &root, &data, err);
	if (ret == 0)
		ret = vt_take_ciphertext(st, data, out, err);
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

/* The Transit key's versions (GET keys/NAME): newest first; those below
 * min_decryption_version are listed as disabled, and it is logged. */
static int vt_transit_list(struct vt_state *st,
			   struct cmk_kms_version **versions, size_t *count,
			   struct cmk_err *err)
{
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	char url[CMK_HTTP_URL_MAX], shown[256];
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *data, *keys, *v;
	int64_t latest, min_dec, number;
	const char *key;
	size_t n = 0;
	int ret;

	ret = vt_transit_url(st, url, sizeof(url), "keys");
	if (ret)
		return cmk_err_set(err, ret, "%s: Transit URL too long",
				   st->conf.url);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = vt_get(st, url, deadline, &resp, err);
	if (ret)
		goto out;
	if (resp.status != 200) {
		ret = vt_transit_error(st, shown, "read", &resp, err);
		goto out;
	}
	root = cmk_svc_json(&resp);
	data = root ? json_object_get(root, "data") : NULL;
	keys = json_object_get(data, "keys");
	v = json_object_get(data, "latest_version");
	latest = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(data, "min_decryption_version");
	min_dec = json_is_integer(v) ? json_integer_value(v) : 0;
	if (!json_is_object(keys) || latest < 1 ||
	    latest > CMK_VAULT_VERSIONS_MAX || min_dec < 0 ||
	    json_object_size(keys) > CMK_VAULT_VERSIONS_MAX) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer is not a Transit key", shown);
		goto out;
	}
	*versions = calloc(json_object_size(keys) + 1, sizeof(**versions));
	if (!*versions) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Newest first: from latest_version down. */
	for (number = latest; number >= 1; number--) {
		char id[24];

		snprintf(id, sizeof(id), "%" PRId64, number);
		json_object_foreach (keys, key, v) {
			if (strcmp(key, id) != 0)
				continue;
			strcpy((*versions)[n].id, id);
			(*versions)[n].enabled = number >= min_dec;
			(*versions)[n].created =
				json_is_integer(v) ? json_integer_value(v) : 0;
			n++;
			break;
		}
	}
	*count = n;
	if (min_dec > 1)
		cmk_log(LOG_DEBUG, CMK_MSG_GENERAL,
			"vault: Transit key '%s': min_decryption_version "
			"%" PRId64 ", latest_version %" PRId64,
			st->conf.transit_key, min_dec, latest);
	ret = 0;
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

/* Signs in with Kubernetes (cmk_svc_token_fn for auth = kubernetes): the
 * service-account token, read fresh for each login (the kubelet rotates
 * it), sent with the role. */
static int vt_kubernetes_login(void *ctx, int64_t deadline, char **token,
			       size_t *token_cap, int64_t *lifetime,
			       struct cmk_err *err)
{
	struct vt_state *st = ctx;
	const struct cmk_conf_vault *c = &st->conf;
	char *jwt = NULL, *body = NULL;
	size_t jwt_cap = 0, jwt_len = 0, body_cap = 0;
	int ret;

	ret = cmk_kms_read_token_file(c->jwt_file, "jwt_file",
				      CMK_VAULT_SECRET_FILE_MAX * 4, &jwt,
				      &jwt_cap, &jwt_len, err);
	if (ret)
		return ret;
	if (!cmk_svc_token_chars_ok(jwt, jwt_len)) {
		ret = cmk_err_set(err, -EINVAL,
				  "%s: jwt_file does not hold a JWT",
				  c->jwt_file);
		goto out;
	}
	body = cmk_svc_concat(true, &body_cap,
			      (const char *const[]){ "{\"role\":\"", c->role,
						     "\",\"jwt\":\"", jwt,
						     "\"}", NULL });
	if (!body) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	ret = vt_login(st, "Kubernetes",
		       "role and the service account's "
		       "binding",
		       body, deadline, token, token_cap, lifetime, err);
out:
	cmk_secure_free(body, body_cap);
	cmk_secure_free(jwt, jwt_cap);
	return ret;
}

static const char *vt_key_name(const struct cmk_conf *conf)
{
	return conf->vault.key_name;
}

static void vt_close(void *state)
{
	struct vt_state *st = state;

	if (!st)
		return;
	cmk_http_free(st->http);
	cmk_svc_token_destroy(&st->token);
	free(st);
}

static int vt_open(const struct cmk_conf *conf, void **state,
		   struct cmk_err *err)
{
	const struct cmk_conf_vault *c = &conf->vault;
	struct vt_state *st;
	int ret;

	if (!c->url[0] || (!c->path[0] && !c->transit_key[0]) ||
	    !c->key_name[0] || c->auth == CMK_VAULT_AUTH_NONE)
		return cmk_err_set(err, -EINVAL,
				   "%s: incomplete [kms] "
				   "settings for provider vault",
				   conf->path);
	st = calloc(1, sizeof(*st));
	if (!st)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	st->conf = *c;
	if (c->namespace_name[0])
		snprintf(st->ns_header, sizeof(st->ns_header),
			 "X-Vault-Namespace: %s", c->namespace_name);
	cmk_svc_token_init(&st->token, "X-Vault-Token: ",
			   c->auth == CMK_VAULT_AUTH_APPROLE ? vt_approle_login
			   : c->auth == CMK_VAULT_AUTH_KUBERNETES
				   ? vt_kubernetes_login
				   : vt_token_file,
			   st);
	ret = cmk_http_new(conf->path, &c->https, &st->http, err);
	if (ret)
		goto fail;
	*state = st;
	return 0;
fail:
	vt_close(st);
	return ret;
}

const struct cmk_kms_provider cmk_vault_provider = {
	.name = "vault",
	.key_name = vt_key_name,
	.open = vt_open,
	.list_versions = vt_list,
	.fetch = vt_fetch,
	.close = vt_close,
	.envelope = vt_envelope,
	.wrap = vt_wrap,
	.unwrap = vt_unwrap,
	.rewrap = vt_rewrap,
};
