/* SPDX-License-Identifier: MIT */
/* The HTTPS client's stand-in for the key-service targets (fuzz_kms.h). */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_kms.h"

#include <limits.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "kms/http.h"
#include "kms/kms.h"

/* The answers of the input being run. */
static const uint8_t *next_answer;
static const uint8_t *answers_end;
static unsigned int requests;

/* No more requests than this per input, whatever the provider does (a
 * loop over pages that never ends would show as a hang). */
#define FUZZ_KMS_REQUESTS_MAX 256

/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the name ld --wrap gives */
int __wrap_cmk_http_new(const char *conf_path,
			const struct cmk_conf_https *https,
			struct cmk_http **out, struct cmk_err *err);
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the name ld --wrap gives */
void __wrap_cmk_http_free(struct cmk_http *h);
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the name ld --wrap gives */
int __wrap_cmk_http_request(struct cmk_http *h, const struct cmk_http_req *req,
			    int64_t deadline_ms, struct cmk_http_resp *resp,
			    struct cmk_err *err);

static int fake_handle;

/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the name ld --wrap gives */
int __wrap_cmk_http_new(const char *conf_path,
			const struct cmk_conf_https *https,
			struct cmk_http **out, struct cmk_err *err)
{
	(void)conf_path;
	(void)https;
	(void)err;
	*out = (struct cmk_http *)&fake_handle;
	return 0;
}

/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the name ld --wrap gives */
void __wrap_cmk_http_free(struct cmk_http *h)
{
	FUZZ_CHECK(!h || h == (struct cmk_http *)&fake_handle);
}

/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the name ld --wrap gives */
int __wrap_cmk_http_request(struct cmk_http *h, const struct cmk_http_req *req,
			    int64_t deadline_ms, struct cmk_http_resp *resp,
			    struct cmk_err *err)
{
	const uint8_t *a = next_answer, *end;
	size_t len;

	(void)deadline_ms;
	FUZZ_CHECK(h == (struct cmk_http *)&fake_handle);
	FUZZ_CHECK(req->method && req->url);
	FUZZ_CHECK(strlen(req->url) < CMK_HTTP_URL_MAX);
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	if (!a || a > answers_end || ++requests > FUZZ_KMS_REQUESTS_MAX)
		return cmk_err_set(err, -EHOSTUNREACH, "%s: no answer (fuzz)",
				   req->method);
	end = memchr(a, FUZZ_KMS_SEP, (size_t)(answers_end - a));
	if (!end)
		end = answers_end;
	next_answer = end + 1;
	resp->status = 200;
	if (end - a >= 3 && a[0] >= '1' && a[0] <= '5' && a[1] >= '0' &&
	    a[1] <= '9' && a[2] >= '0' && a[2] <= '9') {
		resp->status =
			(a[0] - '0') * 100 + (a[1] - '0') * 10 + (a[2] - '0');
		a += 3;
	}
	len = (size_t)(end - a);
	/* As kms/http.c gives it: NUL-terminated, in a wiped block. */
	resp->body = cmk_locked_malloc(len + 1);
	if (!resp->body)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	memcpy(resp->body, a, len);
	resp->body[len] = '\0';
	resp->len = len;
	resp->tries = 1;
	if (resp->status >= 300 && resp->status < 400)
		snprintf(resp->location, sizeof(resp->location), "%s",
			 "https://elsewhere.example/v1/x?token=t");
	if (req->capture_header) {
		static const char token[] = "gAAAAABfuzz-token";

		resp->captured = cmk_locked_malloc(sizeof(token));
		if (!resp->captured) {
			cmk_http_resp_free(resp);
			return cmk_err_set(err, -ENOMEM, "out of memory");
		}
		memcpy(resp->captured, token, sizeof(token));
		resp->captured_len = sizeof(token) - 1;
	}
	return 0;
}

/* Copies in to out with each @DIR@ replaced by dir. */
static void subst_dir(const char *in, const char *dir, char *out, size_t size)
{
	size_t o = 0, dlen = strlen(dir);

	while (*in) {
		if (strncmp(in, "@DIR@", 5) == 0) {
			if (o + dlen >= size)
				abort();
			memcpy(out + o, dir, dlen);
			o += dlen;
			in += 5;
			continue;
		}
		if (o + 1 >= size)
			abort();
		out[o++] = *in++;
	}
	out[o] = '\0';
}

void fuzz_kms_init(const char *const *secrets, const char *const *texts,
		   struct cmk_conf *confs)
{
	const char *dir = fuzz_tmpdir();
	char path[PATH_MAX], text[4096];
	struct cmk_err err;
	size_t n = 0;

	if (!dir)
		abort();
	fuzz_crypto_init();
	cmk_kms_global_init();
	for (size_t i = 0; secrets && secrets[i]; i++) {
		const char *eq = strchr(secrets[i], '=');
		char name[64];

		if (!eq || (size_t)(eq - secrets[i]) >= sizeof(name))
			abort();
		memcpy(name, secrets[i], (size_t)(eq - secrets[i]));
		name[eq - secrets[i]] = '\0';
		if (fuzz_write_file(name, eq + 1, strlen(eq + 1), path,
				    sizeof(path)))
			abort();
	}
	for (n = 0; texts[n]; n++) {
		if (n >= FUZZ_KMS_CONFS)
			abort();
		subst_dir(texts[n], dir, text, sizeof(text));
		if (fuzz_write_file("cmkfs.conf", text, strlen(text), path,
				    sizeof(path)) ||
		    cmk_conf_load(path, &confs[n], &err) != 0) {
			fprintf(stderr, "fuzz: configuration %zu: %s\n", n,
				err.msg);
			abort();
		}
	}
	if (n == 0)
		abort();
	for (size_t i = n; i < FUZZ_KMS_CONFS; i++)
		confs[i] = confs[i % n];
}

static void check_list(const struct cmk_kms_version *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		FUZZ_CHECK(cmk_kms_version_valid(list[i].id));
}

int fuzz_kms_run(const struct cmk_kms_provider *p, const struct cmk_conf *confs,
		 const char *version, const uint8_t *data, size_t size,
		 size_t *listed)
{
	const struct cmk_conf *conf;
	struct cmk_kms_version *list = NULL;
	char got[CMK_KMS_VERSION_MAX + 1];
	size_t count = 0;
	struct cmk_err err;
	uint8_t *cmk;
	void *state = NULL;
	int ret, op;

	if (listed)
		*listed = 0;
	if (size < 1 || size > 16u << 20)
		return -EINVAL;
	conf = &confs[data[0] & 3];
	op = (data[0] >> 2) & 3;
	next_answer = data + 1;
	answers_end = data + size;
	requests = 0;
	cmk = cmk_secure_alloc(CMK_KEY_LEN);
	if (!cmk)
		abort();
	ret = p->open(conf, &state, &err);
	if (ret) {
		FUZZ_CHECK(err.msg[0]);
		goto out;
	}
	memset(&err, 0, sizeof(err));
	switch (op) {
	case 0:
	case 3:
		ret = p->list_versions(state, &list, &count, &err);
		if (ret) {
			FUZZ_CHECK(ret < 0 && err.msg[0]);
			break;
		}
		check_list(list, count);
		if (listed)
			*listed = count;
		if (op == 3 && count)
			ret = p->fetch(state, list[0].id, cmk, got, &err);
		free(list);
		break;
	case 1:
		ret = p->fetch(state, NULL, cmk, got, &err);
		if (ret == 0)
			FUZZ_CHECK(cmk_kms_version_valid(got));
		break;
	case 2:
		ret = p->fetch(state, version, cmk, got, &err);
		break;
	}
	if (ret)
		FUZZ_CHECK(ret < 0 && err.msg[0]);
	p->close(state);
out:
	/* What a seed reaches: CMKFS_FUZZ_VERBOSE=1 replay_NAME FILE. */
	if (getenv("CMKFS_FUZZ_VERBOSE"))
		fprintf(stderr,
			"fuzz: %s, configuration %d, operation %d: "
			"%d %s (%u requests)\n",
			p->name, data[0] & 3, op, ret, ret ? err.msg : "",
			requests);
	cmk_secure_free(cmk, CMK_KEY_LEN);
	next_answer = answers_end = NULL;
	return ret;
}
