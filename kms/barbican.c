/* SPDX-License-Identifier: MIT */
/* OpenStack Key Manager, Barbican (provider = barbican): the CMK's versions
 * are the secrets named secret_name in the project, newest first; a
 * version's id is the secret's UUID, its key the secret's payload (32 raw
 * bytes, or their base64 for a text/plain secret).
 *
 *   GET /v1/secrets?name=N&sort=created:desc&limit=L&offset=O   versions
 *   GET /v1/secrets/{uuid}                   one secret's metadata
 *   GET /v1/secrets/{uuid}/payload           its payload
 *
 * Barbican hides expired secrets and forgets deleted ones: both answer 404
 * and count as disabled. Authentication is a Keystone v3 token from an
 * application credential (POST {auth_url}/auth/tokens, the token in
 * X-Subject-Token), renewed before it expires and once more on a 401; or,
 * with auth = none, only X-Project-Id, for a Barbican behind a trusted
 * proxy. We never follow the secret_ref URLs Barbican sends (its host_href
 * may name another host); we build every URL from the configured one.
 *
 * The application credential secret, the token and the payload live in
 * locked or wiped memory; messages quote URLs, status codes and the
 * services' error texts, never a body, token or key. */
#include "kms/barbican.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "crypto/crypto.h"
#include "kms/http.h"
#include "kms/provider.h"
#include "kms/service.h"

struct bb_state {
	struct cmk_conf_barbican conf;
	struct cmk_http *http;
	char project_header[CMK_CONF_ID_MAX + 16]; /* auth = none */
	struct cmk_svc_token token;		   /* auth = keystone */
};

/* --- pure helpers ----------------------------------------------------------
 */

int cmk_barbican_uuid_from_ref(const char *ref,
			       char out[CMK_KMS_VERSION_MAX + 1])
{
	const char *p = strstr(ref, "/secrets/"), *id;
	size_t len;

	if (!p)
		return -EINVAL;
	id = p + 9;
	len = strlen(id);
	while (len && id[len - 1] == '/')
		len--;
	if (len == 0 || len > CMK_KMS_VERSION_MAX || memchr(id, '/', len))
		return -EINVAL;
	memcpy(out, id, len);
	out[len] = '\0';
	return cmk_kms_version_valid(out) ? 0 : -EINVAL;
}

int cmk_barbican_usable(const char *status, const char *expiration, int64_t now)
{
	int64_t when;

	if (status && strcasecmp(status, "ACTIVE") != 0)
		return 0;
	if (!expiration || !expiration[0])
		return 1;
	if (!cmk_svc_parse_time(expiration, &when))
		return -1;
	return now < when;
}

int cmk_barbican_token_url(const char *auth_url, char *out, size_t size)
{
	size_t len = strlen(auth_url);
	bool v3 = len >= 3 && strcmp(auth_url + len - 3, "/v3") == 0;
	int n = snprintf(out, size, "%s%s/auth/tokens", auth_url,
			 v3 ? "" : "/v3");

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* --- messages --------------------------------------------------------------
 */

/* "HTTP 404 Not Found: Not Found. Sorry but your secret is in another
 * castle." from Barbican's {"code", "title", "description"} or Keystone's
 * {"error": {"code", "title", "message"}}. */
static void bb_status_text(const struct cmk_http_resp *resp, char *out,
			   size_t size)
{
	char title[64] = "", msg[CMK_KMS_MSG_MAX + 4] = "";
	json_t *root = cmk_svc_json(resp), *e;
	const char *t = NULL, *m = NULL;

	e = root ? json_object_get(root, "error") : NULL;
	if (json_is_object(e)) {
		t = json_string_value(json_object_get(e, "title"));
		m = json_string_value(json_object_get(e, "message"));
	} else if (root) {
		t = json_string_value(json_object_get(root, "title"));
		m = json_string_value(json_object_get(root, "description"));
	}
	if (t)
		cmk_http_printable(t, strlen(t), sizeof(title) - 4, title,
				   sizeof(title));
	if (m)
		cmk_http_printable(m, strlen(m), CMK_KMS_MSG_MAX, msg,
				   sizeof(msg));
	json_decref(root);
	snprintf(out, size, "HTTP %ld%s%s%s%s", resp->status,
		 title[0] ? " " : "", title, msg[0] ? ": " : "", msg);
}

static int bb_error(const char *shown, const struct cmk_http_resp *resp,
		    struct cmk_err *err)
{
	char text[CMK_ERR_MSG_MAX], tail[96];

	if (resp->status >= 300 && resp->status < 400)
		return cmk_svc_redirect(shown, resp, err);
	bb_status_text(resp, text, sizeof(text));
	switch (resp->status) {
	case 401:
	case 403:
		return cmk_err_set(err, -EACCES, "%s: access denied (%s)",
				   shown, text);
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		cmk_svc_tries_text(resp, tail, sizeof(tail));
		return cmk_err_set(err, -EHOSTUNREACH, "%s: %s%s", shown, text,
				   tail);
	default:
		return cmk_err_set(err, -EPROTO, "%s: unexpected answer: %s",
				   shown, text);
	}
}

/* --- Keystone --------------------------------------------------------------
 */

/* A Keystone token from the application credential (cmk_svc_token_fn). */
static int bb_keystone_token(void *ctx, int64_t deadline, char **token,
			     size_t *token_cap, int64_t *lifetime,
			     struct cmk_err *err)
{
	struct bb_state *st = ctx;
	const struct cmk_conf_barbican *c = &st->conf;
	const char *headers[2] = { "Content-Type: application/json", NULL };
	struct cmk_http_req req = { .method = "POST",
				    .headers = headers,
				    .capture_header = "X-Subject-Token" };
	char url[CMK_HTTP_URL_MAX], shown[256], text[CMK_ERR_MSG_MAX];
	char *secret = NULL, *body = NULL;
	size_t secret_cap = 0, secret_len = 0, body_cap = 0;
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *tok, *project;
	const char *expires, *project_id;
	int64_t until;
	int ret;

	if (cmk_barbican_token_url(c->auth_url, url, sizeof(url)))
		return cmk_err_set(err, -ENAMETOOLONG,
				   "Keystone: token URL too long");
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = cmk_kms_read_secret_file(c->app_cred_secret_file,
				       "application_credential_secret_file",
				       CMK_BARBICAN_SECRET_FILE_MAX, &secret,
				       &secret_cap, &secret_len, err);
	if (ret)
		return ret;
	if (!cmk_svc_token_chars_ok(secret, secret_len)) {
		ret = cmk_err_set(err, -EINVAL,
				  "%s: application_credential_secret_file "
				  "holds blanks, quotes or control characters",
				  c->app_cred_secret_file);
		goto out;
	}
	/* The id is checked by conf; the body only in locked memory. */
	body = cmk_svc_concat(
		true, &body_cap,
		/* NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one string in two */
		(const char *const[]){ "{\"auth\":{\"identity\":{\"methods\":"
				       "[\"application_credential\"],"
				       "\"application_credential\":{\"id\":\"",
				       c->app_cred_id, "\",\"secret\":\"",
				       secret, "\"}}}}", NULL });
	if (!body) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	req.url = url;
	req.body = body;
	req.body_len = strlen(body);
	ret = cmk_http_request(st->http, &req, deadline, &resp, err);
	if (ret) {
		cmk_err_prefix(err, "Keystone: ");
		goto out;
	}
	if (resp.status == 400 || resp.status == 401 || resp.status == 403) {
		bb_status_text(&resp, text, sizeof(text));
		ret = cmk_err_set(err, -EACCES,
				  "Keystone at %s refused application "
				  "credential %s: %s",
				  shown, c->app_cred_id, text);
		goto out;
	}
	if (resp.status != 201 && resp.status != 200) {
		ret = bb_error(shown, &resp, err);
		cmk_err_prefix(err, "Keystone: ");
		goto out;
	}
	root = cmk_svc_json(&resp);
	tok = root ? json_object_get(root, "token") : NULL;
	expires = tok ? json_string_value(json_object_get(tok, "expires_at"))
		      : NULL;
	project = tok ? json_object_get(tok, "project") : NULL;
	project_id = project ? json_string_value(json_object_get(project, "id"))
			     : NULL;
	if (!resp.captured || resp.captured_len > CMK_KMS_TOKEN_MAX ||
	    !cmk_svc_token_chars_ok(resp.captured, resp.captured_len) ||
	    !expires || !cmk_svc_parse_time(expires, &until)) {
		ret = cmk_err_set(err, -EPROTO,
				  "Keystone at %s: the answer holds no token "
				  "(X-Subject-Token) or no expires_at",
				  shown);
		goto out;
	}
	/* The token acts for a project: it must be the configured one, or
	 * the secrets listed would be another project's. */
	if (!project_id || strcmp(project_id, c->project_id) != 0) {
		char shown_project[CMK_CONF_ID_MAX + 4] = "no project";

		if (project_id)
			cmk_http_printable(project_id, strlen(project_id),
					   CMK_CONF_ID_MAX - 1, shown_project,
					   sizeof(shown_project));
		ret = cmk_err_set(err, -EACCES,
				  "Keystone at %s: application credential %s "
				  "is scoped to %s, but the config names "
				  "project_id %s",
				  shown, c->app_cred_id, shown_project,
				  c->project_id);
		goto out;
	}
	*lifetime = until - (int64_t)time(NULL);
	if (*lifetime <= 0) {
		ret = cmk_err_set(err, -EPROTO,
				  "Keystone at %s: the new token has expired "
				  "already (expires_at %s; is this machine's "
				  "clock right?)",
				  shown, expires);
		goto out;
	}
	*token_cap = resp.captured_len + 1;
	*token = cmk_secure_alloc(*token_cap);
	if (!*token) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	memcpy(*token, resp.captured, resp.captured_len + 1);
	cmk_log(LOG_DEBUG, CMK_MSG_GENERAL,
		"barbican: Keystone token from %s, valid for %" PRId64 " s",
		shown, *lifetime);
	ret = 0;
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	cmk_secure_free(body, body_cap);
	cmk_secure_free(secret, secret_cap);
	return ret;
}

/* --- requests --------------------------------------------------------------
 */

/* GET on Barbican, authenticated as configured. accept: an "Accept: ..."
 * line, or NULL for the HTTP core's application/json (Barbican answers a
 * secret's metadata only to exactly that, its payload otherwise). */
static int bb_get(struct bb_state *st, const char *url, const char *accept,
		  int64_t deadline, struct cmk_http_resp *resp,
		  struct cmk_err *err)
{
	const char *headers[3] = { NULL, NULL, NULL };
	struct cmk_http_req req = { .method = "GET",
				    .url = url,
				    .headers = headers };
	size_t n = 0;

	if (accept)
		headers[n++] = accept;
	if (st->conf.auth == CMK_BARBICAN_AUTH_KEYSTONE)
		return cmk_svc_authed_request(st->http, &st->token, &req, 401,
					      deadline, resp, err);
	headers[n] = st->project_header;
	return cmk_http_request(st->http, &req, deadline, resp, err);
}

/* "secret UUID (a version of NAME in URL)", for messages. */
static void bb_what(const struct bb_state *st, const char *uuid, char *out,
		    size_t size)
{
	snprintf(out, size, "secret %s (a version of '%s' in %s)", uuid,
		 st->conf.secret_name, st->conf.url);
}

/* --- listing ---------------------------------------------------------------
 */

static int bb_add_page(json_t *items, const char *shown,
		       struct cmk_kms_version *list, size_t *count, size_t cap,
		       const char *name, struct cmk_err *err)
{
	int64_t now = (int64_t)time(NULL), created;
	json_t *item;
	size_t i;

	json_array_foreach (items, i, item) {
		struct cmk_kms_version *v;
		char id[CMK_KMS_VERSION_MAX + 1];
		const char *ref =
			json_string_value(json_object_get(item, "secret_ref"));
		const char *iname =
			json_string_value(json_object_get(item, "name"));
		json_t *exp = json_object_get(item, "expiration");
		const char *when =
			json_string_value(json_object_get(item, "created"));
		bool dup = false;
		int usable;

		/* The id is parsed into a buffer of its own: list[*count]
		 * is past the end once the list is full. */
		if (!ref || cmk_barbican_uuid_from_ref(ref, id) != 0 ||
		    (!json_is_null(exp) && exp && !json_is_string(exp)))
			return cmk_err_set(err, -EPROTO,
					   "%s: a listed secret is malformed",
					   shown);
		/* Barbican matches names exactly, but a proxy or an older
		 * release might not: only our name counts. */
		if (!iname || strcmp(iname, name) != 0)
			continue;
		usable = cmk_barbican_usable(
			json_string_value(json_object_get(item, "status")),
			json_string_value(exp), now);
		if (usable < 0)
			return cmk_err_set(err, -EPROTO,
					   "%s: secret %s has a malformed "
					   "expiration",
					   shown, id);
		for (size_t k = 0; k < *count && !dup; k++)
			dup = strcmp(list[k].id, id) == 0;
		if (dup || *count >= cap)
			continue;
		v = &list[*count];
		strcpy(v->id, id);
		v->enabled = usable == 1;
		v->created = when && cmk_svc_parse_time(when, &created)
				     ? created
				     : 0;
		(*count)++;
	}
	return 0;
}

static int cmp_versions(const void *a, const void *b)
{
	const struct cmk_kms_version *x = a, *y = b;

	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return -strcmp(x->id, y->id);
}

static int bb_list(void *state, struct cmk_kms_version **versions,
		   size_t *count, struct cmk_err *err)
{
	struct bb_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	size_t cap = (size_t)CMK_BARBICAN_PAGE * CMK_BARBICAN_PAGES_MAX;
	char url[CMK_HTTP_URL_MAX], shown[256];
	struct cmk_kms_version *list;
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *items, *total;
	size_t n = 0, offset = 0;
	int ret = 0, len;

	list = calloc(cap, sizeof(*list));
	if (!list)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	/* Pages by offset, not the server's "next" link (which names
	 * host_href, maybe not the host we were told to use). */
	for (int page = 0; page < CMK_BARBICAN_PAGES_MAX; page++) {
		len = snprintf(url, sizeof(url),
			       "%s/v1/secrets?name=%s&sort=created:desc"
			       "&limit=%d&offset=%zu",
			       st->conf.url, st->conf.secret_name,
			       CMK_BARBICAN_PAGE, offset);
		if (len < 0 || (size_t)len >= sizeof(url)) {
			ret = cmk_err_set(err, -ENAMETOOLONG,
					  "%s: URL too long", st->conf.url);
			goto out;
		}
		cmk_http_url_for_msg(url, shown, sizeof(shown));
		ret = bb_get(st, url, NULL, deadline, &resp, err);
		if (ret)
			goto out;
		if (resp.status != 200) {
			ret = bb_error(shown, &resp, err);
			goto out;
		}
		root = cmk_svc_json(&resp);
		items = root ? json_object_get(root, "secrets") : NULL;
		total = root ? json_object_get(root, "total") : NULL;
		if (!json_is_array(items) || !json_is_integer(total)) {
			ret = cmk_err_set(err, -EPROTO,
					  "%s: the answer is not a list of "
					  "secrets",
					  shown);
			goto out;
		}
		ret = bb_add_page(items, shown, list, &n, cap,
				  st->conf.secret_name, err);
		if (ret)
			goto out;
		offset += json_array_size(items);
		if (json_array_size(items) == 0 ||
		    offset >= (size_t)json_integer_value(total))
			break;
		json_decref(root);
		root = NULL;
		cmk_http_resp_free(&resp);
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp_versions);
	*versions = list;
	*count = n;
	list = NULL;
out:
	free(list);
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

/* --- fetching --------------------------------------------------------------
 */

/* The secret's metadata: it must be ours and usable. *text: its payload
 * is text (the base64 of the key) rather than the key's bytes. */
static int bb_check_secret(struct bb_state *st, const char *uuid,
			   int64_t deadline, bool *text, struct cmk_err *err)
{
	char url[CMK_HTTP_URL_MAX], shown[256], what[CMK_ERR_MSG_MAX];
	struct cmk_http_resp resp = { 0 };
	const char *name, *ctype;
	json_t *root = NULL, *exp;
	int ret, len, usable;

	bb_what(st, uuid, what, sizeof(what));
	len = snprintf(url, sizeof(url), "%s/v1/secrets/%s", st->conf.url,
		       uuid);
	if (len < 0 || (size_t)len >= sizeof(url))
		return cmk_err_set(err, -ENAMETOOLONG, "%s: URL too long",
				   st->conf.url);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = bb_get(st, url, NULL, deadline, &resp, err);
	if (ret)
		goto out;
	if (resp.status == 404) {
		ret = cmk_err_set(err, -EACCES,
				  "%s is gone: deleted, expired, or never "
				  "there (Barbican answers 404)",
				  what);
		goto out;
	}
	if (resp.status != 200) {
		ret = bb_error(shown, &resp, err);
		goto out;
	}
	root = cmk_svc_json(&resp);
	name = root ? json_string_value(json_object_get(root, "name")) : NULL;
	exp = root ? json_object_get(root, "expiration") : NULL;
	if (!name || strcmp(name, st->conf.secret_name) != 0) {
		ret = cmk_err_set(err, -EACCES,
				  "%s: Barbican's secret %s is not named '%s' "
				  "(a header names a secret of another key)",
				  shown, uuid, st->conf.secret_name);
		goto out;
	}
	usable = cmk_barbican_usable(
		json_string_value(json_object_get(root, "status")),
		json_is_string(exp) ? json_string_value(exp) : NULL,
		(int64_t)time(NULL));
	if (usable != 1) {
		ret = cmk_err_set(err, usable < 0 ? -EPROTO : -EACCES,
				  usable < 0 ? "%s has a malformed expiration"
					     : "%s is expired or not active",
				  what);
		goto out;
	}
	ctype = json_string_value(json_object_get(
		json_object_get(root, "content_types"), "default"));
	*text = ctype && strncasecmp(ctype, "text/plain", 10) == 0;
	ret = 0;
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

static int bb_fetch_uuid(struct bb_state *st, const char *uuid,
			 int64_t deadline, uint8_t *cmk, struct cmk_err *err)
{
	char url[CMK_HTTP_URL_MAX], shown[256], what[CMK_ERR_MSG_MAX];
	struct cmk_http_resp resp = { 0 };
	bool text = false;
	int ret, len;

	ret = bb_check_secret(st, uuid, deadline, &text, err);
	if (ret)
		return ret;
	bb_what(st, uuid, what, sizeof(what));
	len = snprintf(url, sizeof(url), "%s/v1/secrets/%s/payload",
		       st->conf.url, uuid);
	if (len < 0 || (size_t)len >= sizeof(url))
		return cmk_err_set(err, -ENAMETOOLONG, "%s: URL too long",
				   st->conf.url);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = bb_get(st, url,
		     text ? "Accept: text/plain"
			  : "Accept: application/octet-stream",
		     deadline, &resp, err);
	if (ret)
		goto out;
	if (resp.status == 404) {
		ret = cmk_err_set(err, -EACCES,
				  "%s is gone: deleted or expired (Barbican "
				  "answers 404)",
				  what);
		goto out;
	}
	if (resp.status != 200) {
		ret = bb_error(shown, &resp, err);
		goto out;
	}
	if (text) {
		size_t n = resp.len;

		while (n &&
		       (resp.body[n - 1] == '\n' || resp.body[n - 1] == '\r'))
			n--;
		ret = cmk_svc_base64_key(resp.body, n, cmk, what, err);
	} else if (resp.len != CMK_KEY_LEN) {
		ret = cmk_err_set(err, -EINVAL,
				  "%s: the payload must be a %d-byte key (it "
				  "is %zu bytes)",
				  what, CMK_KEY_LEN, resp.len);
	} else {
		memcpy(cmk, resp.body, CMK_KEY_LEN);
	}
out:
	cmk_http_resp_free(&resp);
	return ret;
}

static int bb_fetch(void *state, const char *version, uint8_t *cmk,
		    char version_out[CMK_KMS_VERSION_MAX + 1],
		    struct cmk_err *err)
{
	struct bb_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	struct cmk_kms_version *list = NULL;
	size_t n = 0, i;
	int ret;

	if (version)
		return bb_fetch_uuid(st, version, deadline, cmk, err);
	ret = bb_list(st, &list, &n, err);
	if (ret)
		return ret;
	for (i = 0; i < n && !list[i].enabled; i++)
		;
	if (n == 0)
		ret = cmk_err_set(err, -ENOKEY,
				  "no secret named '%s' in project %s at %s",
				  st->conf.secret_name, st->conf.project_id,
				  st->conf.url);
	else if (i == n)
		ret = cmk_err_set(err, -EACCES,
				  "none of the %zu secrets named '%s' at %s is "
				  "active",
				  n, st->conf.secret_name, st->conf.url);
	else
		ret = bb_fetch_uuid(st, list[i].id, deadline, cmk, err);
	if (ret == 0)
		strcpy(version_out, list[i].id);
	free(list);
	return ret;
}

/* --- the provider ----------------------------------------------------------
 */

static const char *bb_key_name(const struct cmk_conf *conf)
{
	return conf->barbican.key_name;
}

static void bb_close(void *state)
{
	struct bb_state *st = state;

	if (!st)
		return;
	cmk_http_free(st->http);
	cmk_svc_token_destroy(&st->token);
	free(st);
}

static int bb_open(const struct cmk_conf *conf, void **state,
		   struct cmk_err *err)
{
	const struct cmk_conf_barbican *c = &conf->barbican;
	struct bb_state *st;
	int ret;

	if (!c->url[0] || !c->secret_name[0] || !c->project_id[0] ||
	    !c->key_name[0] || c->auth == CMK_BARBICAN_AUTH_NONE)
		return cmk_err_set(err, -EINVAL,
				   "%s: incomplete [kms] "
				   "settings for provider "
				   "barbican",
				   conf->path);
	st = calloc(1, sizeof(*st));
	if (!st)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	st->conf = *c;
	snprintf(st->project_header, sizeof(st->project_header),
		 "X-Project-Id: %s", c->project_id);
	cmk_svc_token_init(&st->token, "X-Auth-Token: ", bb_keystone_token, st);
	ret = cmk_http_new(conf->path, &c->https, &st->http, err);
	if (ret)
		goto fail;
	*state = st;
	return 0;
fail:
	bb_close(st);
	return ret;
}

const struct cmk_kms_provider cmk_barbican_provider = {
	.name = "barbican",
	.key_name = bb_key_name,
	.open = bb_open,
	.list_versions = bb_list,
	.fetch = bb_fetch,
	.close = bb_close,
};
