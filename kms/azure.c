/* SPDX-License-Identifier: MIT */
/* Azure Key Vault (provider = azure): the CMK is a Key Vault secret whose
 * value is the base64 of the 256-bit key; its versions are the CMK's
 * versions, named by Key Vault's 32-hex version ids.
 *
 * Tokens come from the Microsoft identity platform (client credentials:
 * POST {authority}/{tenant}/oauth2/v2.0/token) or from the instance
 * metadata service (managed identity: GET {imds}/metadata/identity/oauth2/
 * token). One token is cached per provider handle and renewed before it
 * expires; a 401 from the vault gets one fresh token and one more try.
 *
 * Secrets: the client secret lives in locked memory from open to close and
 * is sent only in a POST body built in locked memory; the token lives in
 * locked memory and reaches libcurl only as a header line, which libcurl
 * copies into blocks that are wiped when freed; answers that hold key
 * values are parsed by jansson, whose blocks are wiped too. Messages quote
 * URLs without their queries, status codes and Azure's error codes and
 * messages, never a body, a token, a secret or a key.
 *
 * Every operation has a deadline (CMK_KMS_BUDGET): the token it needs,
 * its requests, their retries and the waits between them all fit in it. */
#include "kms/azure.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
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

#define AZ_ID_MAX 512 /* longest "id" URL accepted */

/* How this handle signs in, once auth (and, for workload-identity and
 * default, the environment AKS and the SDKs use) is resolved. */
enum az_signin {
	AZ_MANAGED,  /* instance metadata service */
	AZ_SECRET,   /* client secret */
	AZ_CERT,     /* client assertion signed with a certificate's key */
	AZ_WORKLOAD, /* client assertion: a federated (OIDC) token */
};

static const char *const az_signin_names[] = {
	[AZ_MANAGED] = "managed identity",
	[AZ_SECRET] = "client-secret sign-in",
	[AZ_CERT] = "client-certificate sign-in",
	[AZ_WORKLOAD] = "workload identity",
};

struct az_state {
	struct cmk_conf_azure conf;
	enum az_signin signin;
	/* Client certificate only: the PEM (certificate and key), locked. */
	char *cert_pem;
	size_t cert_pem_cap;
	size_t cert_pem_len;
	const char *resource; /* the vault's token audience */
	struct cmk_http *http;
	/* Client credentials only: locked memory. */
	char *client_secret;
	size_t client_secret_cap;
	size_t client_secret_len;
	struct cmk_svc_token token;
};

/* --- pure helpers ----------------------------------------------------------
 */

const char *cmk_azure_resource(const char *vault_url)
{
	static const char *const clouds[] = {
		"vault.usgovcloudapi.net", /* Azure Government */
		"vault.azure.cn",	   /* Azure operated by 21Vianet */
	};
	const char *host, *end;
	size_t len, clen;

	static const char hsm[] = ".managedhsm.azure.net";
	size_t url_len;

	host = strstr(vault_url, "://");
	host = host ? host + 3 : vault_url;
	end = host + strcspn(host, ":/?#");
	len = (size_t)(end - host);
	url_len = sizeof(hsm) - 1;
	/* Managed HSM has its own audience. */
	if (len > url_len && strncasecmp(end - url_len, hsm, url_len) == 0)
		return "https://managedhsm.azure.net";
	for (size_t i = 0; i < sizeof(clouds) / sizeof(clouds[0]); i++) {
		clen = strlen(clouds[i]);
		if (len > clen + 1 && host[len - clen - 1] == '.' &&
		    strncasecmp(end - clen, clouds[i], clen) == 0)
			return i == 0 ? "https://vault.usgovcloudapi.net"
				      : "https://vault.azure.cn";
	}
	return "https://vault.azure.net";
}

/* The version in ".../COLLECTION/NAME/VERSION" (a secret's id, a key's
 * kid). */
static int az_version_from_url(const char *id, const char *collection,
			       const char *secret,
			       char out[CMK_KMS_VERSION_MAX + 1])
{
	const char *p, *name, *ver;
	size_t name_len = strlen(secret), len, clen = strlen(collection);

	if (strncasecmp(id, "https://", 8) != 0 || strlen(id) > AZ_ID_MAX)
		return -EINVAL;
	p = strchr(id + 8, '/');
	if (!p || strncmp(p + 1, collection, clen) != 0 || p[clen + 1] != '/')
		return -EINVAL;
	name = p + clen + 2;
	if (strncasecmp(name, secret, name_len) != 0 || name[name_len] != '/')
		return -EINVAL;
	ver = name + name_len + 1;
	len = strlen(ver);
	if (len == 0 || len > CMK_KMS_VERSION_MAX || strchr(ver, '/') ||
	    strpbrk(ver, "?#"))
		return -EINVAL;
	memcpy(out, ver, len + 1);
	return cmk_kms_version_valid(out) ? 0 : -EINVAL;
}

int cmk_azure_version_from_id(const char *id, const char *secret,
			      char out[CMK_KMS_VERSION_MAX + 1])
{
	return az_version_from_url(id, "secrets", secret, out);
}

enum cmk_azure_usable cmk_azure_usable(bool enabled, bool has_nbf, int64_t nbf,
				       bool has_exp, int64_t exp, int64_t now)
{
	if (!enabled)
		return CMK_AZURE_DISABLED;
	if (has_nbf && now < nbf)
		return CMK_AZURE_NOT_YET;
	if (has_exp && now >= exp)
		return CMK_AZURE_EXPIRED;
	return CMK_AZURE_USABLE;
}

bool cmk_azure_parse_seconds(const char *s, int64_t *out)
{
	int64_t n = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) || n > INT64_MAX / 100)
			return false;
		n = n * 10 + (*s - '0');
	}
	*out = n;
	return true;
}

/* --- JSON ------------------------------------------------------------------
 */

/* A number, or a string of digits, as Azure sends lifetimes and times. */
static bool az_json_seconds(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	return json_is_string(v) &&
	       cmk_azure_parse_seconds(json_string_value(v), out);
}

/* An optional time attribute: absent or null, or an integer. */
static bool az_json_time(json_t *attrs, const char *key, bool *has,
			 int64_t *out)
{
	json_t *v = json_object_get(attrs, key);

	*has = false;
	*out = 0;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_integer(v))
		return false;
	*has = true;
	*out = json_integer_value(v);
	return true;
}

/* Azure's explanation of a failed request, safe to print:
 * "Forbidden (SecretDisabled): Operation get is not allowed ..." from Key
 * Vault, "invalid_client: AADSTS7000215: Invalid client secret ..." from
 * the identity platform, "HTTP 502" when the body says nothing we know.
 * inner gets Key Vault's innererror code, if any. */
static void az_error_text(const struct az_state *st,
			  const struct cmk_http_resp *resp, char *out,
			  size_t size, char *inner, size_t inner_size)
{
	char code[64] = "", icode[64] = "", msg[CMK_KMS_MSG_MAX + 4] = "";
	json_t *root = cmk_svc_json(resp), *e, *v;
	const char *s;

	if (inner_size)
		inner[0] = '\0';
	e = root ? json_object_get(root, "error") : NULL;
	if (json_is_object(e)) {
		/* Key Vault: {"error": {"code", "message", "innererror"}} */
		if ((s = json_string_value(json_object_get(e, "code"))))
			cmk_http_printable(s, strlen(s), sizeof(code) - 4, code,
					   sizeof(code));
		if ((s = json_string_value(json_object_get(e, "message"))))
			cmk_http_printable(s, strlen(s), CMK_KMS_MSG_MAX, msg,
					   sizeof(msg));
		v = json_object_get(e, "innererror");
		if ((s = json_string_value(json_object_get(v, "code"))))
			cmk_http_printable(s, strlen(s), sizeof(icode) - 4,
					   icode, sizeof(icode));
	} else if (json_is_string(e)) {
		/* The identity platform and IMDS: {"error",
		 * "error_description": "AADSTS...: text\r\nTrace ID: ..."} */
		s = json_string_value(e);
		cmk_http_printable(s, strlen(s), sizeof(code) - 4, code,
				   sizeof(code));
		s = json_string_value(
			json_object_get(root, "error_description"));
		if (s)
			cmk_http_printable(s, strlen(s), CMK_KMS_MSG_MAX, msg,
					   sizeof(msg));
	}
	json_decref(root);
	/* Belt and braces: a server that echoes the client secret back does
	 * not get it printed. */
	if (st->client_secret && st->client_secret_len >= 4 &&
	    (memmem(msg, strlen(msg), st->client_secret,
		    st->client_secret_len) ||
	     memmem(code, strlen(code), st->client_secret,
		    st->client_secret_len))) {
		snprintf(msg, sizeof(msg),
			 "(text withheld: it quotes the "
			 "client secret)");
	}
	if (inner_size)
		snprintf(inner, inner_size, "%s", icode);
	if (!code[0])
		snprintf(out, size, "HTTP %ld", resp->status);
	else if (icode[0])
		snprintf(out, size, "HTTP %ld %s (%s)%s%s", resp->status, code,
			 icode, msg[0] ? ": " : "", msg);
	else
		snprintf(out, size, "HTTP %ld %s%s%s", resp->status, code,
			 msg[0] ? ": " : "", msg);
	cmk_cleanse(msg, sizeof(msg));
}

/* --- tokens ----------------------------------------------------------------
 */

static int az_token_url(const struct az_state *st, char *url, size_t size)
{
	const struct cmk_conf_azure *c = &st->conf;
	char tenant[3 * CMK_CONF_ID_MAX + 1];
	int n;

	if (st->signin != AZ_MANAGED) {
		if (cmk_http_escape(c->tenant, strlen(c->tenant), tenant,
				    sizeof(tenant)))
			return -ENAMETOOLONG;
		n = snprintf(url, size, "%s/%s/oauth2/v2.0/token",
			     c->authority_url, tenant);
	} else {
		n = snprintf(url, size, "%s/metadata/identity/oauth2/token",
			     c->imds_url);
	}
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* A random (version 4) UUID: client request ids, JWT ids. */
static void az_uuid(char out[37])
{
	uint8_t raw[16];

	cmk_random(raw, sizeof(raw));
	raw[6] = (uint8_t)((raw[6] & 0x0f) | 0x40);
	raw[8] = (uint8_t)((raw[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x"
		 "%02x%02x",
		 raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
		 raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14],
		 raw[15]);
}

#define AZ_ASSERTION_MAX (16u * 1024u)
#define AZ_ASSERTION_LIFETIME 600 /* seconds a signed assertion is valid */

/* The client assertion (a JWT, URL-safe as it is) into *out, locked:
 * the federated token read fresh from its file (the kubelet rotates it),
 * or one signed RS256 with the certificate's key for the token endpoint
 * token_url, with the certificate's x5t#S256. */
static int az_assertion(struct az_state *st, const char *token_url, char **out,
			size_t *cap, struct cmk_err *err)
{
	const struct cmk_conf_azure *c = &st->conf;
	uint8_t thumb[CMK_SHA256_LEN], sig[1024];
	char x5t[48], head[160], jti[37], *claims = NULL, *signing = NULL;
	char b64sig[1400];
	size_t len = 0, sig_len = 0, claims_cap = 0, signing_cap = 0;
	size_t b64c_cap = 0;
	char *b64c = NULL, b64h[224];
	int64_t now = (int64_t)time(NULL);
	int ret;

	*out = NULL;
	if (st->signin == AZ_WORKLOAD) {
		ret = cmk_kms_read_token_file(c->federated_token_file,
					      "federated_token_file",
					      AZ_ASSERTION_MAX, out, cap, &len,
					      err);
		if (ret == 0 && !cmk_svc_token_chars_ok(*out, len)) {
			cmk_secure_free(*out, *cap);
			*out = NULL;
			ret = cmk_err_set(err, -EINVAL,
					  "%s: federated_token_file does not "
					  "hold a token",
					  c->federated_token_file);
		}
		return ret;
	}
	/* The thumbprint first: it goes into the header that is signed. */
	ret = cmk_rs256_sign_pem(st->cert_pem, st->cert_pem_len, NULL, 0, sig,
				 sizeof(sig), &sig_len, thumb);
	if (ret)
		return cmk_err_set(err, ret,
				   "%s: client_certificate_file must hold an "
				   "RSA private key (unencrypted) and its "
				   "certificate, in PEM",
				   c->client_certificate_file);
	cmk_svc_b64url_encode(thumb, sizeof(thumb), x5t, sizeof(x5t));
	snprintf(head, sizeof(head),
		 "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t#S256\":\"%s\"}",
		 x5t);
	az_uuid(jti);
	{
		char times[96];

		snprintf(times, sizeof(times),
			 "\",\"nbf\":%lld,\"iat\":%lld,\"exp\":%lld}",
			 (long long)now, (long long)now,
			 (long long)(now + AZ_ASSERTION_LIFETIME));
		claims = cmk_svc_concat(
			false, &claims_cap,
			(const char *const[]){
				"{\"aud\":\"", token_url, "\",\"iss\":\"",
				c->client_id, "\",\"sub\":\"", c->client_id,
				"\",\"jti\":\"", jti, times, NULL });
	}
	if (!claims) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	b64c_cap = 4 * (strlen(claims) / 3 + 1) + 1;
	b64c = malloc(b64c_cap);
	if (!b64c ||
	    cmk_svc_b64url_encode((const uint8_t *)head, strlen(head), b64h,
				  sizeof(b64h)) ||
	    cmk_svc_b64url_encode((const uint8_t *)claims, strlen(claims), b64c,
				  b64c_cap)) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	signing =
		cmk_svc_concat(false, &signing_cap,
			       (const char *const[]){ b64h, ".", b64c, NULL });
	if (!signing) {
		ret = cmk_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = cmk_rs256_sign_pem(st->cert_pem, st->cert_pem_len, signing,
				 strlen(signing), sig, sizeof(sig), &sig_len,
				 thumb);
	if (ret == 0)
		ret = cmk_svc_b64url_encode(sig, sig_len, b64sig,
					    sizeof(b64sig));
	if (ret) {
		cmk_err_set(err, ret, "%s: cannot sign the client assertion",
			    c->client_certificate_file);
		goto out;
	}
	*out = cmk_svc_concat(
		true, cap, (const char *const[]){ signing, ".", b64sig, NULL });
	if (!*out)
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
out:
	cmk_locked_free(signing);
	cmk_locked_free(claims);
	free(b64c);
	return ret;
}

/* Gets a token (cmk_svc_token_fn). */
static int az_token_get(void *ctx, int64_t deadline, char **token,
			size_t *token_cap, int64_t *token_lifetime,
			struct cmk_err *err)
{
	struct az_state *st = ctx;
	const struct cmk_conf_azure *c = &st->conf;
	bool secret_auth = st->signin != AZ_MANAGED;
	const char *what = az_signin_names[st->signin];
	char url[CMK_HTTP_URL_MAX], shown[256], text[CMK_ERR_MSG_MAX];
	char esc_resource[128], esc_client[3 * CMK_CONF_ID_MAX + 1];
	char scope[96], tail[96], *body = NULL, *secret = NULL;
	const char *tok;
	size_t body_cap = 0, secret_cap = 0, tok_len;
	struct cmk_http_resp resp = { 0 };
	struct cmk_http_req req = { 0 };
	const char *headers[2] = { NULL, NULL };
	json_t *root = NULL, *v;
	int64_t lifetime = -1, on;
	int ret;

	ret = az_token_url(st, url, sizeof(url));
	if (ret)
		return cmk_err_set(err, ret, "%s: token URL too long", what);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	if (cmk_http_escape(st->resource, strlen(st->resource), esc_resource,
			    sizeof(esc_resource)) ||
	    cmk_http_escape(c->client_id, strlen(c->client_id), esc_client,
			    sizeof(esc_client)))
		return cmk_err_set(err, -ENAMETOOLONG, "%s: name too long",
				   what);
	if (secret_auth) {
		/* The form, with the secret, only ever in locked memory. */
		snprintf(scope, sizeof(scope), "%s/.default", st->resource);
		if (st->signin == AZ_SECRET) {
			secret_cap = 3 * st->client_secret_len + 1;
			secret = cmk_secure_alloc(secret_cap);
			if (secret && cmk_http_escape(st->client_secret,
						      st->client_secret_len,
						      secret, secret_cap))
				ret = -ENAMETOOLONG;
		} else {
			ret = az_assertion(st, url, &secret, &secret_cap, err);
			if (ret)
				goto out;
		}
		if (!secret) {
			ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
			goto out;
		}
		if (ret ||
		    cmk_http_escape(scope, strlen(scope), tail, sizeof(tail))) {
			ret = cmk_err_set(err, -ENAMETOOLONG,
					  "%s: scope too long", what);
			goto out;
		}
		body = cmk_svc_concat(
			true, &body_cap,
			(const char *const[]){
				"grant_type=client_credentials&client_id=",
				esc_client,
				st->signin == AZ_SECRET
					? "&client_secret="
					: "&client_assertion_type=urn%3Aietf%3A"
					  "params%3Aoauth%3Aclient-assertion-"
					  "type%3Ajwt-bearer&client_assertion=",
				secret, "&scope=", tail, NULL });
		if (!body) {
			ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
			goto out;
		}
		headers[0] = "Content-Type: application/x-www-form-urlencoded";
		req.method = "POST";
		req.body = body;
		req.body_len = strlen(body);
	} else {
		int n = snprintf(url + strlen(url), sizeof(url) - strlen(url),
				 "?api-version=%s&resource=%s%s%s",
				 CMK_AZURE_IMDS_API, esc_resource,
				 c->client_id[0] ? "&client_id=" : "",
				 esc_client);

		if (n < 0 || (size_t)n >= sizeof(url) - strlen(url)) {
			ret = cmk_err_set(err, -ENAMETOOLONG,
					  "%s: token URL too long", what);
			goto out;
		}
		/* IMDS wants this header, and no proxy may stand between:
		 * a request through one is refused (and would leak the
		 * token). */
		headers[0] = "Metadata: true";
		req.method = "GET";
		req.plain_http = true;
		req.no_proxy = true;
		req.retry_not_found = true;
	}
	req.url = url;
	req.headers = headers;
	ret = cmk_http_request(st->http, &req, deadline, &resp, err);
	if (ret) {
		cmk_err_prefix(err, "%s: ", what);
		goto out;
	}
	if (resp.status >= 300 && resp.status < 400) {
		ret = cmk_svc_redirect(shown, &resp, err);
		cmk_err_prefix(err, "%s: ", what);
		goto out;
	}
	if (resp.status != 200) {
		az_error_text(st, &resp, text, sizeof(text), NULL, 0);
		cmk_svc_tries_text(&resp, tail, sizeof(tail));
		/* The identity platform answers 400 or 401 to a bad tenant,
		 * client or secret; IMDS 400 to an unknown identity, and 404
		 * or 410 while it is being updated. */
		ret = resp.status == 429 || resp.status >= 500 ||
				      (!secret_auth && (resp.status == 404 ||
							resp.status == 410))
			      ? -EHOSTUNREACH
			      : -EACCES;
		cmk_err_set(err, ret, "%s: %s %s: %s%s", what,
			    ret == -EACCES ? "refused by" : "no token from",
			    shown, text, ret == -EACCES ? "" : tail);
		goto out;
	}
	root = cmk_svc_json(&resp);
	v = root ? json_object_get(root, "access_token") : NULL;
	tok = json_is_string(v) ? json_string_value(v) : NULL;
	tok_len = tok ? json_string_length(v) : 0;
	v = root ? json_object_get(root, "token_type") : NULL;
	if (!tok || tok_len == 0 || tok_len > CMK_KMS_TOKEN_MAX ||
	    !cmk_svc_token_chars_ok(tok, tok_len) ||
	    (v && (!json_is_string(v) ||
		   strcasecmp(json_string_value(v), "Bearer") != 0))) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: %s: the answer holds no bearer token",
				  what, shown);
		goto out;
	}
	/* expires_in from the answer's arrival, on the monotonic clock;
	 * expires_on (epoch seconds) when that is all there is. */
	if (!az_json_seconds(json_object_get(root, "expires_in"), &lifetime) &&
	    az_json_seconds(json_object_get(root, "expires_on"), &on))
		/* A negative time is refused as a past one: the difference
		 * could overflow. */
		lifetime = on > 0 ? on - (int64_t)time(NULL) : 0;
	if (lifetime <= 0 || lifetime > 7 * 86400) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: %s: the token's lifetime is missing or "
				  "out of range",
				  what, shown);
		goto out;
	}
	*token_cap = tok_len + 1;
	*token = cmk_secure_alloc(*token_cap);
	if (!*token) {
		ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		goto out;
	}
	memcpy(*token, tok, tok_len + 1);
	*token_lifetime = lifetime;
	cmk_log(LOG_DEBUG, CMK_MSG_GENERAL,
		"azure: new token from %s, valid for %" PRId64 " s", shown,
		lifetime);
	ret = 0;
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	cmk_secure_free(body, body_cap);
	cmk_secure_free(secret, secret_cap);
	return ret;
}

/* --- the vault -------------------------------------------------------------
 */

/* GET on the vault with a token; a 401 gets a fresh token and one more
 * try. 0 with any answer in resp, or -errno. */
static int az_key_request(struct az_state *st, const char *url, const char *op,
			  const char *body, int64_t deadline,
			  struct cmk_http_resp *resp, struct cmk_err *err);

static int az_vault_get(struct az_state *st, const char *url, int64_t deadline,
			struct cmk_http_resp *resp, struct cmk_err *err)
{
	return az_key_request(st, url, "get", NULL, deadline, resp, err);
}

static int az_url(const struct az_state *st, char *url, size_t size,
		  const char *version, bool versions)
{
	const struct cmk_conf_azure *c = &st->conf;
	char name[3 * CMK_AZURE_SECRET_MAX + 1],
		ver[3 * CMK_KMS_VERSION_MAX + 1];
	char api[3 * sizeof(c->api_version)];
	int n;

	const char *cname = c->key[0] ? c->key : c->secret;

	if (cmk_http_escape(cname, strlen(cname), name, sizeof(name)) ||
	    cmk_http_escape(c->api_version, strlen(c->api_version), api,
			    sizeof(api)) ||
	    (version &&
	     cmk_http_escape(version, strlen(version), ver, sizeof(ver))))
		return -ENAMETOOLONG;
	if (versions)
		n = snprintf(url, size,
			     "%s/%s/%s/versions?api-version=%s"
			     "&maxresults=25",
			     c->vault_url, c->key[0] ? "keys" : "secrets", name,
			     api);
	else if (version)
		n = snprintf(url, size, "%s/secrets/%s/%s?api-version=%s",
			     c->vault_url, name, ver, api);
	else
		n = snprintf(url, size, "%s/secrets/%s?api-version=%s",
			     c->vault_url, name, api);
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* "version X of secret S" or "the current version of secret S", and the
 * vault, for messages. */
static void az_what(const struct az_state *st, const char *version, char *out,
		    size_t size)
{
	const char *kind = st->conf.key[0] ? "key" : "secret";
	const char *name = st->conf.key[0] ? st->conf.key : st->conf.secret;

	if (version)
		snprintf(out, size, "version %s of %s '%s' in %s", version,
			 kind, name, st->conf.vault_url);
	else
		snprintf(out, size, "the current version of %s '%s' in %s",
			 kind, name, st->conf.vault_url);
}

/* Turns a vault answer other than 200 into -errno and a message. */
static int az_vault_error(const struct az_state *st, const char *shown,
			  const char *version, const struct cmk_http_resp *resp,
			  struct cmk_err *err)
{
	char text[CMK_ERR_MSG_MAX], inner[64], what[CMK_ERR_MSG_MAX];
	char tail[96];

	if (resp->status >= 300 && resp->status < 400)
		return cmk_svc_redirect(shown, resp, err);
	az_error_text(st, resp, text, sizeof(text), inner, sizeof(inner));
	az_what(st, version, what, sizeof(what));
	switch (resp->status) {
	case 401:
		return cmk_err_set(err, -EACCES,
				   "%s: the vault refused a fresh token: %s",
				   shown, text);
	case 403:
		if (strcmp(inner, "SecretDisabled") == 0)
			return cmk_err_set(err, -EACCES, "%s is disabled (%s)",
					   what, text);
		return cmk_err_set(err, -EACCES,
				   "%s: access denied (does the identity have "
				   "the secrets get and list permissions?): "
				   "%s",
				   shown, text);
	case 404:
		/* The secret itself missing is a key-service error for the
		 * command line; a missing version is -ENOENT, as with the
		 * local keystore. */
		if (version)
			return cmk_err_set(err, -ENOENT,
					   "%s does not exist (%s)", what,
					   text);
		return cmk_err_set(err, -ENOKEY, "no secret '%s' in %s (%s)",
				   st->conf.secret, st->conf.vault_url, text);
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

/* Why a version may not be used, as a message; 0 when it may. */
static int az_check_usable(const struct az_state *st, const char *version,
			   bool current, json_t *attrs, struct cmk_err *err)
{
	char what[CMK_ERR_MSG_MAX], when[32];
	bool has_nbf, has_exp, enabled;
	enum cmk_azure_usable why;
	int64_t nbf, exp;
	struct tm tm;
	time_t t;

	az_what(st, current ? NULL : version, what, sizeof(what));
	if (!json_is_object(attrs) ||
	    !az_json_time(attrs, "nbf", &has_nbf, &nbf) ||
	    !az_json_time(attrs, "exp", &has_exp, &exp))
		return cmk_err_set(err, -EPROTO,
				   "%s: the answer's attributes are malformed",
				   what);
	enabled = json_is_true(json_object_get(attrs, "enabled"));
	why = cmk_azure_usable(enabled, has_nbf, nbf, has_exp, exp,
			       (int64_t)time(NULL));
	if (why == CMK_AZURE_USABLE)
		return 0;
	if (why == CMK_AZURE_DISABLED)
		return cmk_err_set(err, -EACCES, "%s (%s) is disabled", what,
				   version);
	t = (time_t)(why == CMK_AZURE_NOT_YET ? nbf : exp);
	if (!gmtime_r(&t, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(when, sizeof(when), "%" PRId64, (int64_t)t);
	if (why == CMK_AZURE_NOT_YET)
		return cmk_err_set(err, -EACCES,
				   "%s (%s) is not valid before %s (its nbf, "
				   "not-before date)",
				   what, version, when);
	return cmk_err_set(err, -EACCES,
			   "%s (%s) expired at %s (its exp, expiration date)",
			   what, version, when);
}

static int az_fetch(void *state, const char *version, uint8_t *cmk,
		    char version_out[CMK_KMS_VERSION_MAX + 1],
		    struct cmk_err *err)
{
	struct az_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	char url[CMK_HTTP_URL_MAX], shown[256], got[CMK_KMS_VERSION_MAX + 1];
	char what[CMK_ERR_MSG_MAX];
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *v;
	int ret;

	ret = az_url(st, url, sizeof(url), version, false);
	if (ret)
		return cmk_err_set(err, ret, "%s: secret URL too long",
				   st->conf.vault_url);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = az_vault_get(st, url, deadline, &resp, err);
	if (ret)
		goto out;
	if (resp.status != 200) {
		ret = az_vault_error(st, shown, version, &resp, err);
		goto out;
	}
	az_what(st, version, what, sizeof(what));
	root = cmk_svc_json(&resp);
	v = root ? json_object_get(root, "id") : NULL;
	if (!json_is_string(v) ||
	    cmk_azure_version_from_id(json_string_value(v), st->conf.secret,
				      got) != 0) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer has no valid secret id",
				  shown);
		goto out;
	}
	/* Version ids are case-insensitive in Key Vault. */
	if (version && strcasecmp(version, got) != 0) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer is for version %s", shown,
				  got);
		goto out;
	}
	ret = az_check_usable(st, version ? version : got, !version,
			      json_object_get(root, "attributes"), err);
	if (ret)
		goto out;
	v = json_object_get(root, "value");
	if (!json_is_string(v)) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s (%s): the answer has no "
				  "value",
				  what, got);
		goto out;
	}
	snprintf(what + strlen(what), sizeof(what) - strlen(what), " (%s)",
		 got);
	ret = cmk_svc_base64_key(json_string_value(v), json_string_length(v),
				 cmk, what, err);
	if (ret)
		goto out;
	if (!version)
		strcpy(version_out, got);
	ret = 0;
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

static int cmp_versions(const void *a, const void *b)
{
	const struct cmk_kms_version *x = a, *y = b;

	/* Newest first; equal times by id, highest first. */
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return -strcmp(x->id, y->id);
}

/* Adds one page's versions to *list. */
static int az_add_page(struct az_state *st, json_t *items, const char *shown,
		       struct cmk_kms_version **list, size_t *count,
		       size_t *cap, struct cmk_err *err)
{
	struct cmk_kms_version *grown, *v;
	int64_t now = (int64_t)time(NULL), nbf, exp, created;
	bool has_nbf, has_exp, has_created, dup;
	json_t *item, *attrs;
	size_t i;
	char id[CMK_KMS_VERSION_MAX + 1];

	json_array_foreach (items, i, item) {
		bool keys = st->conf.key[0] != '\0';
		json_t *jid = json_object_get(item, keys ? "kid" : "id");

		attrs = json_object_get(item, "attributes");
		if (!json_is_string(jid) ||
		    az_version_from_url(
			    json_string_value(jid), keys ? "keys" : "secrets",
			    keys ? st->conf.key : st->conf.secret, id) != 0 ||
		    !json_is_object(attrs) ||
		    !az_json_time(attrs, "nbf", &has_nbf, &nbf) ||
		    !az_json_time(attrs, "exp", &has_exp, &exp) ||
		    !az_json_time(attrs, "created", &has_created, &created))
			return cmk_err_set(err, -EPROTO,
					   "%s: a listed version is malformed",
					   shown);
		dup = false;
		for (size_t k = 0; k < *count && !dup; k++)
			dup = strcasecmp((*list)[k].id, id) == 0;
		if (dup)
			continue;
		/* A vault sends 25 a page, but a page may hold a megabyte:
		 * bounded, like the pages, and the comparisons above. */
		if (*count >= CMK_AZURE_VERSIONS_MAX)
			return cmk_err_set(err, -EPROTO,
					   "%s: more than %d versions", shown,
					   CMK_AZURE_VERSIONS_MAX);
		if (*count == *cap) {
			size_t ncap = *cap ? *cap * 2 : 32;

			grown = realloc(*list, ncap * sizeof(**list));
			if (!grown)
				return cmk_err_set(err, -ENOMEM,
						   "out of memory");
			*list = grown;
			*cap = ncap;
		}
		v = &(*list)[(*count)++];
		memset(v, 0, sizeof(*v));
		strcpy(v->id, id);
		v->created = has_created ? created : 0;
		v->enabled = cmk_azure_usable(json_is_true(json_object_get(
						      attrs, "enabled")),
					      has_nbf, nbf, has_exp, exp,
					      now) == CMK_AZURE_USABLE;
	}
	return 0;
}

static int az_list(void *state, struct cmk_kms_version **versions,
		   size_t *count, struct cmk_err *err)
{
	struct az_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	char url[CMK_HTTP_URL_MAX], shown[256];
	struct cmk_kms_version *list = NULL;
	struct cmk_http_resp resp = { 0 };
	size_t n = 0, cap = 0;
	json_t *root = NULL, *items, *next;
	int ret, pages = 0;

	ret = az_url(st, url, sizeof(url), NULL, true);
	if (ret)
		return cmk_err_set(err, ret, "%s: secret URL too long",
				   st->conf.vault_url);
	for (;;) {
		cmk_http_url_for_msg(url, shown, sizeof(shown));
		ret = az_vault_get(st, url, deadline, &resp, err);
		if (ret)
			goto out;
		if (resp.status != 200) {
			ret = az_vault_error(st, shown, NULL, &resp, err);
			goto out;
		}
		root = cmk_svc_json(&resp);
		items = root ? json_object_get(root, "value") : NULL;
		if (!json_is_array(items)) {
			ret = cmk_err_set(err, -EPROTO,
					  "%s: the answer is not a list of "
					  "versions",
					  shown);
			goto out;
		}
		ret = az_add_page(st, items, shown, &list, &n, &cap, err);
		if (ret)
			goto out;
		next = json_object_get(root, "nextLink");
		if (!next || json_is_null(next))
			break;
		/* The link comes from the server: it may only lead back to
		 * the vault, which gets our token. */
		if (!json_is_string(next) ||
		    json_string_length(next) >= sizeof(url) ||
		    !cmk_http_same_origin(json_string_value(next),
					  st->conf.vault_url)) {
			ret = cmk_err_set(err, -EPROTO,
					  "%s: the next page's link leads away "
					  "from %s (refused)",
					  shown, st->conf.vault_url);
			goto out;
		}
		if (++pages >= CMK_AZURE_PAGES_MAX) {
			ret = cmk_err_set(err, -EPROTO,
					  "%s: more than %d pages of versions",
					  shown, CMK_AZURE_PAGES_MAX);
			goto out;
		}
		strcpy(url, json_string_value(next));
		json_decref(root);
		root = NULL;
		cmk_http_resp_free(&resp);
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

/* --- keys: envelope mode (key = NAME) ---------------------------------------
 * The CMK is a Key Vault or Managed HSM key (RSA, RSA-HSM); the vault wraps
 * and unwraps the volume key with RSA-OAEP-256 and never hands the CMK out.
 * Each request carries an x-ms-client-request-id, logged with its result,
 * which Key Vault's diagnostic logs record as clientRequestId. */

#define AZ_WRAP_ALG "RSA-OAEP-256"
#define AZ_RSA_MIN_BYTES 256 /* 2048-bit modulus at least */

static bool az_envelope(const struct cmk_conf *conf)
{
	return conf->azure.key[0] != '\0';
}

/* {vault}/keys/{key}[/{version}][/{op}]?api-version=... */
static int az_key_url(const struct az_state *st, char *url, size_t size,
		      const char *version, const char *op)
{
	const struct cmk_conf_azure *c = &st->conf;
	char name[3 * CMK_AZURE_SECRET_MAX + 1],
		ver[3 * CMK_KMS_VERSION_MAX + 1];
	char api[3 * sizeof(c->api_version)];
	int n;

	if (cmk_http_escape(c->key, strlen(c->key), name, sizeof(name)) ||
	    cmk_http_escape(c->api_version, strlen(c->api_version), api,
			    sizeof(api)) ||
	    (version &&
	     cmk_http_escape(version, strlen(version), ver, sizeof(ver))))
		return -ENAMETOOLONG;
	n = snprintf(url, size, "%s/keys/%s%s%s%s%s?api-version=%s",
		     c->vault_url, name, version ? "/" : "", version ? ver : "",
		     op ? "/" : "", op ? op : "", api);
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* Turns a key operation's answer other than 200 into -errno and a message
 * that names the operation, Key Vault's codes and the URL. */
static int az_key_error(const struct az_state *st, const char *shown,
			const char *op, const char *version,
			const struct cmk_http_resp *resp, struct cmk_err *err)
{
	char text[CMK_ERR_MSG_MAX], inner[64], tail[96], ver[96];

	if (resp->status >= 300 && resp->status < 400)
		return cmk_svc_redirect(shown, resp, err);
	az_error_text(st, resp, text, sizeof(text), inner, sizeof(inner));
	snprintf(ver, sizeof(ver), "%s%s", version ? " version " : "",
		 version ? version : "");
	switch (resp->status) {
	case 401:
		return cmk_err_set(err, -EACCES,
				   "%s: the vault refused a fresh token: %s",
				   shown, text);
	case 403:
		if (strcmp(inner, "KeyDisabled") == 0)
			return cmk_err_set(err, -EACCES,
					   "%s: key '%s'%s is disabled: %s "
					   "refused (%s)",
					   shown, st->conf.key, ver, op, text);
		if (strcmp(inner, "KeyOperationForbidden") == 0)
			return cmk_err_set(err, -EACCES,
					   "%s: key '%s' does not permit %s "
					   "(its key_ops) (%s)",
					   shown, st->conf.key, op, text);
		if (strcmp(inner, "ForbiddenByRbac") == 0)
			return cmk_err_set(err, -EACCES,
					   "%s: the identity may not %s with "
					   "key '%s' (give it the role Key "
					   "Vault Crypto Service Encryption "
					   "User) (%s)",
					   shown, op, st->conf.key, text);
		return cmk_err_set(err, -EACCES,
				   "%s: %s with key '%s' denied (does the "
				   "identity have get, wrapKey and unwrapKey "
				   "on it?) (%s)",
				   shown, op, st->conf.key, text);
	case 404:
		return cmk_err_set(err, -ENOENT,
				   "%s: key '%s'%s not found in %s (%s)", shown,
				   st->conf.key, ver, st->conf.vault_url, text);
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		cmk_svc_tries_text(resp, tail, sizeof(tail));
		return cmk_err_set(err, -EHOSTUNREACH, "%s: %s: %s%s", shown,
				   op, text, tail);
	default:
		return cmk_err_set(err, -EPROTO,
				   "%s: %s: unexpected answer: %s", shown, op,
				   text);
	}
}

/* One authenticated request on the vault with a fresh client request id,
 * logged with its outcome (never a body). body may be NULL (GET). */
static int az_key_request(struct az_state *st, const char *url, const char *op,
			  const char *body, int64_t deadline,
			  struct cmk_http_resp *resp, struct cmk_err *err)
{
	char id_line[80], shown[256], uuid[37];
	const char *headers[3] = { id_line, NULL, NULL };
	struct cmk_http_req req = { .method = body ? "POST" : "GET",
				    .url = url,
				    .headers = headers };
	int ret;

	az_uuid(uuid);
	snprintf(id_line, sizeof(id_line), "x-ms-client-request-id: %s", uuid);
	if (body) {
		headers[1] = "Content-Type: application/json";
		req.body = body;
		req.body_len = strlen(body);
	}
	ret = cmk_svc_authed_request(st->http, &st->token, &req, 401, deadline,
				     resp, err);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	/* The key operations at info level: what an admin matches with
	 * Key Vault's logs. Reads at debug level. */
	cmk_log(body ? LOG_INFO : LOG_DEBUG, CMK_MSG_GENERAL,
		"azure: %s %s: %s%ld (x-ms-client-request-id %s)", op, shown,
		ret ? "failed, " : "HTTP ", ret ? (long)-ret : resp->status,
		uuid);
	return ret;
}

/* GETs the key (version NULL: its current version) and checks that it
 * can wrap: enabled, within nbf/exp (enforced here: Key Vault reports but
 * does not enforce them), RSA of 2048 bits or more. version_out gets the
 * version's id. */
static int az_key_check(struct az_state *st, const char *version,
			int64_t deadline,
			char version_out[CMK_KMS_VERSION_MAX + 1],
			struct cmk_err *err)
{
	char url[CMK_HTTP_URL_MAX], shown[256];
	struct cmk_http_resp resp = { 0 };
	json_t *root = NULL, *key, *v;
	const char *kty;
	int ret;

	ret = az_key_url(st, url, sizeof(url), version, NULL);
	if (ret)
		return cmk_err_set(err, ret, "%s: key URL too long",
				   st->conf.vault_url);
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = az_key_request(st, url, "get", NULL, deadline, &resp, err);
	if (ret)
		goto out;
	if (resp.status != 200) {
		ret = az_key_error(st, shown, "get", version, &resp, err);
		goto out;
	}
	root = cmk_svc_json(&resp);
	key = root ? json_object_get(root, "key") : NULL;
	v = json_object_get(key, "kid");
	if (!json_is_string(v) ||
	    az_version_from_url(json_string_value(v), "keys", st->conf.key,
				version_out) != 0 ||
	    (version && strcasecmp(version, version_out) != 0)) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer has no valid key id (kid)",
				  shown);
		goto out;
	}
	ret = az_check_usable(st, version_out, false,
			      json_object_get(root, "attributes"), err);
	if (ret)
		goto out;
	kty = json_string_value(json_object_get(key, "kty"));
	v = json_object_get(key, "n");
	if (!kty || (strcmp(kty, "RSA") != 0 && strcmp(kty, "RSA-HSM") != 0)) {
		ret = cmk_err_set(err, -EINVAL,
				  "%s: key '%s' is of type %s; cmkfs wraps "
				  "with RSA and RSA-HSM keys (RSA-OAEP-256)",
				  shown, st->conf.key, kty ? kty : "(none)");
		goto out;
	}
	/* base64url of the modulus: 4 characters per 3 bytes. */
	if (!json_is_string(v) ||
	    json_string_length(v) * 3 / 4 < AZ_RSA_MIN_BYTES - 1) {
		ret = cmk_err_set(err, -EINVAL,
				  "%s: key '%s' is shorter than 2048 bits",
				  shown, st->conf.key);
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	return ret;
}

/* POSTs {"alg", "value"} to keys/KEY/VERSION/OP and decodes the answer's
 * value into out (at most out_size bytes). The request body and the
 * answer live in locked memory. */
static int az_key_op(struct az_state *st, const char *op, const char *path_op,
		     const char *version, const char *alg, const uint8_t *in,
		     size_t in_len, int64_t deadline, uint8_t *out,
		     size_t out_size, size_t *out_len, struct cmk_err *err)
{
	char url[CMK_HTTP_URL_MAX], shown[256], got[CMK_KMS_VERSION_MAX + 1];
	size_t value_cap = 4 * (in_len / 3 + 1) + 1, body_cap = 0;
	struct cmk_http_resp resp = { 0 };
	char *value = cmk_secure_alloc(value_cap), *body = NULL;
	json_t *root = NULL, *v;
	int ret;

	if (!value)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	ret = az_key_url(st, url, sizeof(url), version, path_op);
	if (ret) {
		cmk_err_set(err, ret, "%s: key URL too long",
			    st->conf.vault_url);
		goto out;
	}
	cmk_http_url_for_msg(url, shown, sizeof(shown));
	ret = cmk_svc_b64url_encode(in, in_len, value, value_cap);
	if (ret == 0) {
		body = cmk_svc_concat(true, &body_cap,
				      (const char *const[]){ "{\"alg\":\"", alg,
							     "\",\"value\":\"",
							     value, "\"}",
							     NULL });
		if (!body)
			ret = -ENOMEM;
	}
	if (ret) {
		cmk_err_set(err, ret, "out of locked memory");
		goto out;
	}
	ret = az_key_request(st, url, op, body, deadline, &resp, err);
	if (ret)
		goto out;
	if (resp.status != 200) {
		ret = az_key_error(st, shown, op, version, &resp, err);
		goto out;
	}
	root = cmk_svc_json(&resp);
	v = root ? json_object_get(root, "kid") : NULL;
	if (!json_is_string(v) ||
	    az_version_from_url(json_string_value(v), "keys", st->conf.key,
				got) != 0 ||
	    strcasecmp(got, version) != 0) {
		ret = cmk_err_set(err, -EPROTO,
				  "%s: the answer is not from key '%s' "
				  "version %s",
				  shown, st->conf.key, version);
		goto out;
	}
	v = json_object_get(root, "value");
	ret = json_is_string(v) ? cmk_svc_b64url_decode(json_string_value(v),
							json_string_length(v),
							out, out_size, out_len)
				: -EINVAL;
	if (ret)
		cmk_err_set(err, ret == -ENOMEM ? -ENOMEM : -EPROTO,
			    "%s: the answer's value is not a %s key", shown,
			    strcmp(op, "wrapKey") == 0 ? "wrapped" : "32-byte");
out:
	json_decref(root);
	cmk_http_resp_free(&resp);
	cmk_secure_free(body, body_cap);
	cmk_secure_free(value, value_cap);
	return ret;
}

static int az_wrap(void *state, const uint8_t *key, struct cmk_kms_wrapped *out,
		   struct cmk_err *err)
{
	struct az_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	int ret;

	ret = az_key_check(st, NULL, deadline, out->version, err);
	if (ret)
		return ret;
	strcpy(out->alg, AZ_WRAP_ALG);
	return az_key_op(st, "wrapKey", "wrapkey", out->version, AZ_WRAP_ALG,
			 key, CMK_KEY_LEN, deadline, out->blob,
			 sizeof(out->blob), &out->len, err);
}

static int az_unwrap(void *state, const struct cmk_kms_wrapped *in,
		     uint8_t *key, struct cmk_err *err)
{
	struct az_state *st = state;
	int64_t deadline = cmk_svc_deadline(st->conf.https.timeout);
	char got[CMK_KMS_VERSION_MAX + 1];
	size_t len = 0;
	int ret;

	if (strcmp(in->alg, AZ_WRAP_ALG) != 0)
		return cmk_err_set(err, -EINVAL,
				   "the volume key is wrapped with %s, which "
				   "cmkfs does not unwrap with Key Vault",
				   in->alg);
	/* The version's attributes first: Key Vault would unwrap with an
	 * expired version. */
	ret = az_key_check(st, in->version, deadline, got, err);
	if (ret)
		return ret;
	ret = az_key_op(st, "unwrapKey", "unwrapkey", in->version, in->alg,
			in->blob, in->len, deadline, key, CMK_KEY_LEN, &len,
			err);
	if (ret == 0 && len != CMK_KEY_LEN)
		ret = cmk_err_set(err, -EPROTO,
				  "key '%s' version %s unwrapped %zu bytes, "
				  "not a %d-byte volume key",
				  st->conf.key, in->version, len, CMK_KEY_LEN);
	return ret;
}

/* --- the provider ----------------------------------------------------------
 */

static const char *az_key_name(const struct cmk_conf *conf)
{
	return conf->azure.key_name;
}

static void az_close(void *state)
{
	struct az_state *st = state;

	if (!st)
		return;
	cmk_http_free(st->http);
	cmk_secure_free(st->client_secret, st->client_secret_cap);
	cmk_secure_free(st->cert_pem, st->cert_pem_cap);
	cmk_svc_token_destroy(&st->token);
	free(st);
}

/* Copies an environment variable into an empty setting. */
static void az_from_env(char *field, size_t size, const char *name)
{
	const char *v = getenv(name);

	if (!field[0] && v && strlen(v) < size)
		strcpy(field, v);
}

/* Resolves auth, as Azure's SDKs do: workload-identity and default take
 * what is unset from AZURE_TENANT_ID, AZURE_CLIENT_ID,
 * AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST and
 * AZURE_CLIENT_CERTIFICATE_PATH; default tries a certificate from the
 * environment, then workload identity, then managed identity
 * (DefaultAzureCredential's order, without client secrets in the
 * environment), and logs which. */
static int az_resolve_signin(const struct cmk_conf *conf, struct az_state *st,
			     struct cmk_err *err)
{
	struct cmk_conf_azure *c = &st->conf;
	const char *host = getenv("AZURE_AUTHORITY_HOST");

	switch (c->auth) {
	case CMK_AZURE_AUTH_CLIENT_SECRET:
		st->signin = AZ_SECRET;
		return 0;
	case CMK_AZURE_AUTH_CLIENT_CERTIFICATE:
		st->signin = AZ_CERT;
		return 0;
	case CMK_AZURE_AUTH_MANAGED_IDENTITY:
		st->signin = AZ_MANAGED;
		return 0;
	default:
		break;
	}
	az_from_env(c->tenant, sizeof(c->tenant), "AZURE_TENANT_ID");
	az_from_env(c->client_id, sizeof(c->client_id), "AZURE_CLIENT_ID");
	az_from_env(c->federated_token_file, sizeof(c->federated_token_file),
		    "AZURE_FEDERATED_TOKEN_FILE");
	/* The authority from the environment only where the config keeps
	 * the default: https only, as the config demands. */
	if (host && strncmp(host, "https://", 8) == 0 &&
	    strlen(host) < sizeof(c->authority_url) &&
	    strcmp(c->authority_url, "https://login.microsoftonline.com") ==
		    0) {
		strcpy(c->authority_url, host);
		while (strlen(c->authority_url) > 8 &&
		       c->authority_url[strlen(c->authority_url) - 1] == '/')
			c->authority_url[strlen(c->authority_url) - 1] = '\0';
	}
	if (c->auth == CMK_AZURE_AUTH_DEFAULT) {
		az_from_env(c->client_certificate_file,
			    sizeof(c->client_certificate_file),
			    "AZURE_CLIENT_CERTIFICATE_PATH");
		if (c->tenant[0] && c->client_id[0] &&
		    c->client_certificate_file[0])
			st->signin = AZ_CERT;
		else if (c->tenant[0] && c->client_id[0] &&
			 c->federated_token_file[0])
			st->signin = AZ_WORKLOAD;
		else
			st->signin = AZ_MANAGED;
		cmk_log(LOG_INFO, CMK_MSG_GENERAL,
			"azure: auth = default signs in with %s",
			az_signin_names[st->signin]);
		return 0;
	}
	st->signin = AZ_WORKLOAD;
	if (!c->tenant[0] || !c->client_id[0] || !c->federated_token_file[0])
		return cmk_err_set(err, -EINVAL,
				   "%s: auth = workload-identity needs tenant, "
				   "client_id and federated_token_file (or "
				   "AZURE_TENANT_ID, AZURE_CLIENT_ID and "
				   "AZURE_FEDERATED_TOKEN_FILE)",
				   conf->path);
	return 0;
}

static int az_open(const struct cmk_conf *conf, void **state,
		   struct cmk_err *err)
{
	const struct cmk_conf_azure *c = &conf->azure;
	struct az_state *st;
	int ret;

	if (!c->vault_url[0] || (!c->secret[0] && !c->key[0]) ||
	    !c->key_name[0] || c->auth == CMK_AZURE_AUTH_NONE)
		return cmk_err_set(err, -EINVAL,
				   "%s: incomplete [kms] "
				   "settings for provider azure",
				   conf->path);
	st = calloc(1, sizeof(*st));
	if (!st)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	cmk_svc_token_init(&st->token, "Authorization: Bearer ", az_token_get,
			   st);
	st->conf = *c;
	st->resource = cmk_azure_resource(c->vault_url);
	ret = az_resolve_signin(conf, st, err);
	if (ret)
		goto fail;
	if (st->signin == AZ_CERT) {
		ret = cmk_kms_read_secret_file(st->conf.client_certificate_file,
					       "client_certificate_file",
					       AZ_ASSERTION_MAX, &st->cert_pem,
					       &st->cert_pem_cap,
					       &st->cert_pem_len, err);
		if (ret)
			goto fail;
	}
	if (st->signin == AZ_SECRET) {
		ret = cmk_kms_read_secret_file(
			c->client_secret_file, "client_secret_file",
			CMK_AZURE_SECRET_FILE_MAX, &st->client_secret,
			&st->client_secret_cap, &st->client_secret_len, err);
		if (ret)
			goto fail;
	}
	ret = cmk_http_new(conf->path, &c->https, &st->http, err);
	if (ret)
		goto fail;
	*state = st;
	return 0;
fail:
	az_close(st);
	return ret;
}

const struct cmk_kms_provider cmk_azure_provider = {
	.name = "azure",
	.key_name = az_key_name,
	.open = az_open,
	.list_versions = az_list,
	.fetch = az_fetch,
	.close = az_close,
	.envelope = az_envelope,
	.wrap = az_wrap,
	.unwrap = az_unwrap,
};
