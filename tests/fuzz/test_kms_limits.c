/* SPDX-License-Identifier: MIT */
/* Answers too big for a fuzzer's inputs, through the key-service targets'
 * stand-in for the HTTPS client (fuzz_kms.c): a page of more versions than
 * a provider keeps. Regression tests for what review of the fuzz targets
 * found; run in every build, under ASan in the sanitizer suite. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_kms.h"

#include <stdarg.h>
#include <string.h>

#include "kms/azure.h"
#include "tests/check.h"

#define MANY 10001 /* one more than a provider keeps */

struct buf {
	char *p;
	size_t len, cap;
};

static void add(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!b->p) {
		b->cap = 4096;
		b->p = malloc(b->cap);
		if (!b->p)
			abort();
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t)n;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	b->len += (size_t)n;
}

/* Barbican: a list page of MANY secrets named ours with distinct ids.
 * The list keeps 10,000 (CMK_BARBICAN_PAGE * CMK_BARBICAN_PAGES_MAX); the
 * secret after the last one kept was parsed into the slot past the end of
 * the list (a heap overflow of 65 bytes). */
static void barbican_full_list(void)
{
	static struct cmk_conf confs[FUZZ_KMS_CONFS];
	static const char *const texts[] = {
		"[kms]\nprovider = barbican\n"
		"url = https://barbican.example:9311\nsecret_name = cmk\n"
		"project_id = p1\nauth = none\n",
		NULL
	};
	struct buf b = { 0 };
	size_t listed = 0;

	fuzz_kms_init(NULL, texts, confs);
	add(&b, "%c200{\"secrets\":[", 0 /* list */);
	for (int i = 0; i < MANY; i++)
		add(&b,
		    "%s{\"secret_ref\":\"/v1/secrets/s%d\",\"name\":\"cmk\"}",
		    i ? "," : "", i);
	add(&b, "],\"total\":%d}", MANY);
	CHECK_EQ_INT(fuzz_kms_run(&cmk_barbican_provider, confs, "s1",
				  (const uint8_t *)b.p, b.len, &listed),
		     0);
	CHECK_EQ_INT(listed, 10000);
	free(b.p);
}

/* Azure: a page of MANY versions (a vault sends 25 a page, and at most
 * CMK_AZURE_PAGES_MAX pages are followed; a hostile one could send a
 * megabyte a page, and each new version was compared with all before
 * it). Refused beyond CMK_AZURE_VERSIONS_MAX. */
static void azure_too_many_versions(void)
{
	static struct cmk_conf confs[FUZZ_KMS_CONFS];
	static const char *const texts[] = {
		"[kms]\nprovider = azure\n"
		"vault_url = https://fuzz.vault.azure.net\nsecret = cmk\n"
		"auth = managed-identity\n",
		NULL
	};
	struct buf b = { 0 };
	size_t listed = 0;

	fuzz_kms_init(NULL, texts, confs);
	add(&b,
	    "%c200{\"access_token\":\"t\",\"expires_in\":3600}\x1e"
	    "200"
	    "{\"value\":[",
	    0 /* list */);
	for (int i = 0; i < MANY; i++)
		add(&b,
		    "%s{\"id\":\"https://fuzz.vault.azure.net/secrets/cmk/"
		    "v%d\",\"attributes\":{\"enabled\":true}}",
		    i ? "," : "", i);
	add(&b, "]}");
	CHECK_EQ_INT(fuzz_kms_run(&cmk_azure_provider, confs, "v1",
				  (const uint8_t *)b.p, b.len, &listed),
		     -EPROTO);
	CHECK_EQ_INT(listed, 0);
	free(b.p);
}

int main(void)
{
	barbican_full_list();
	azure_too_many_versions();
	return check_exit();
}
