/* SPDX-License-Identifier: MIT */
/* The pure parts of the key services' HTTPS client (kms/http.c): escaping,
 * Retry-After, backoff, the same-origin check for links from a server, and
 * the text made safe to print. No network. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "kms/http.h"

static void escape(void)
{
	char out[64];

	CHECK_EQ_INT(cmk_http_escape("AZaz09-._~", 10, out, sizeof(out)), 0);
	CHECK(strcmp(out, "AZaz09-._~") == 0);
	CHECK_EQ_INT(cmk_http_escape("a b&c=d/e?f%+", 13, out, sizeof(out)), 0);
	CHECK(strcmp(out, "a%20b%26c%3Dd%2Fe%3Ff%25%2B") == 0);
	/* Bytes, not characters: UTF-8 and a NUL within len. */
	CHECK_EQ_INT(cmk_http_escape("\xc3\xa9\0x", 4, out, sizeof(out)), 0);
	CHECK(strcmp(out, "%C3%A9%00x") == 0);
	CHECK_EQ_INT(cmk_http_escape("https://vault.azure.net/.default", 32,
				     out, sizeof(out)),
		     0);
	CHECK(strcmp(out, "https%3A%2F%2Fvault.azure.net%2F.default") == 0);
	CHECK_EQ_INT(cmk_http_escape("", 0, out, sizeof(out)), 0);
	CHECK(strcmp(out, "") == 0);
	/* Exactly full, one short, and an escape that would straddle the
	 * end: refused, and nothing half-written left behind. */
	CHECK_EQ_INT(cmk_http_escape("abc", 3, out, 4), 0);
	CHECK_EQ_INT(cmk_http_escape("abcd", 4, out, 4), -ENOSPC);
	CHECK(out[0] == '\0' && out[1] == '\0' && out[2] == '\0');
	CHECK_EQ_INT(cmk_http_escape("ab ", 3, out, 5), -ENOSPC);
	CHECK_EQ_INT(cmk_http_escape("ab ", 3, out, 6), 0);
	CHECK_EQ_INT(cmk_http_escape("a", 1, out, 0), -ENOSPC);
}

static void retry_after(void)
{
	time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */

	CHECK_EQ_INT(cmk_http_parse_retry_after("0", now), 0);
	CHECK_EQ_INT(cmk_http_parse_retry_after("1", now), 1);
	CHECK_EQ_INT(cmk_http_parse_retry_after(" 120 ", now), 120);
	CHECK_EQ_INT(cmk_http_parse_retry_after("86400", now), 86400);
	CHECK_EQ_INT(cmk_http_parse_retry_after("99999999999999999999", now),
		     86400);
	CHECK_EQ_INT(cmk_http_parse_retry_after("", now), -1);
	CHECK_EQ_INT(cmk_http_parse_retry_after("  ", now), -1);
	CHECK_EQ_INT(cmk_http_parse_retry_after("-1", now), -1);
	CHECK_EQ_INT(cmk_http_parse_retry_after("1.5", now), -1);
	CHECK_EQ_INT(cmk_http_parse_retry_after("10 s", now), -1);
	CHECK_EQ_INT(cmk_http_parse_retry_after("soon", now), -1);
	/* HTTP dates: ahead, behind, far ahead. */
	CHECK_EQ_INT(cmk_http_parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT",
						now),
		     30);
	CHECK_EQ_INT(cmk_http_parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT",
						now),
		     0);
	CHECK_EQ_INT(cmk_http_parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT",
						now),
		     86400);
}

static void backoff(void)
{
	/* Retry-After wins, capped. */
	CHECK_EQ_INT(cmk_http_backoff_ms(1, 0, 0), 0);
	CHECK_EQ_INT(cmk_http_backoff_ms(3, 1500, 1023), 1500);
	CHECK_EQ_INT(cmk_http_backoff_ms(1, 3600 * 1000, 0),
		     CMK_HTTP_RETRY_AFTER_MAX * 1000);
	/* Exponential, capped, jitter up to a quarter more. */
	CHECK_EQ_INT(cmk_http_backoff_ms(1, -1, 0), 500);
	CHECK_EQ_INT(cmk_http_backoff_ms(2, -1, 0), 1000);
	CHECK_EQ_INT(cmk_http_backoff_ms(3, -1, 0), 2000);
	CHECK_EQ_INT(cmk_http_backoff_ms(4, -1, 0), 4000);
	CHECK_EQ_INT(cmk_http_backoff_ms(10, -1, 0), CMK_HTTP_BACKOFF_MAX_MS);
	CHECK_EQ_INT(cmk_http_backoff_ms(1000, -1, 0), CMK_HTTP_BACKOFF_MAX_MS);
	CHECK_EQ_INT(cmk_http_backoff_ms(1, -1, 1023), 500 + 500 * 1023 / 4096);
	CHECK_EQ_INT(cmk_http_backoff_ms(1, -1, 0xffffffffu),
		     500 + 500 * 1023 / 4096);
	/* With the defaults (3 retries) the waits add up to well under the
	 * budget of an operation. */
	CHECK(cmk_http_backoff_ms(1, -1, 1023) +
		      cmk_http_backoff_ms(2, -1, 1023) +
		      cmk_http_backoff_ms(3, -1, 1023) <
	      5000);
}

static void same_origin(void)
{
	const char *base = "https://myvault.vault.azure.net";

	CHECK(cmk_http_same_origin(
		"https://myvault.vault.azure.net/secrets/cmk/versions?"
		"api-version=7.4&$skiptoken=abc&maxresults=25",
		base));
	CHECK(cmk_http_same_origin("https://MyVault.Vault.Azure.Net:443/x",
				   base));
	CHECK(cmk_http_same_origin("HTTPS://myvault.vault.azure.net", base));
	CHECK(cmk_http_same_origin("https://127.0.0.1:8443/secrets/a",
				   "https://127.0.0.1:8443"));
	CHECK(cmk_http_same_origin("https://[::1]:8443/a",
				   "https://[::1]:8443"));
	CHECK(!cmk_http_same_origin("https://[::1]:8444/a",
				    "https://[::1]:8443"));
	CHECK(!cmk_http_same_origin("https://127.0.0.1:8444/secrets/a",
				    "https://127.0.0.1:8443"));
	CHECK(!cmk_http_same_origin("https://localhost:8443/secrets/a",
				    "https://127.0.0.1:8443"));
	CHECK(!cmk_http_same_origin("https://othervault.vault.azure.net/x",
				    base));
	CHECK(!cmk_http_same_origin(
		"https://myvault.vault.azure.net.evil.example/x", base));
	CHECK(!cmk_http_same_origin("http://myvault.vault.azure.net/x", base));
	CHECK(!cmk_http_same_origin("https://evil@myvault.vault.azure.net/x",
				    base));
	CHECK(!cmk_http_same_origin("https://myvault.vault.azure.net@evil/x",
				    base));
	CHECK(!cmk_http_same_origin("//myvault.vault.azure.net/x", base));
	CHECK(!cmk_http_same_origin("/secrets/cmk/versions", base));
	CHECK(!cmk_http_same_origin("https://myvault.vault.azure.net:0/",
				    base));
	CHECK(!cmk_http_same_origin("https://myvault.vault.azure.net:99999/",
				    base));
	CHECK(!cmk_http_same_origin("https://myvault.vault.azure.net:44x/",
				    base));
	CHECK(!cmk_http_same_origin("https:///x", base));
	CHECK(!cmk_http_same_origin("", base));
}

static void messages(void)
{
	char out[64];

	cmk_http_url_for_msg("https://h/secrets/a?api-version=7.4&x=secret",
			     out, sizeof(out));
	CHECK(strcmp(out, "https://h/secrets/a") == 0);
	cmk_http_url_for_msg("https://h/p#frag", out, sizeof(out));
	CHECK(strcmp(out, "https://h/p") == 0);
	cmk_http_printable("ok\x01\xff text", 11, 60, out, sizeof(out));
	CHECK(strcmp(out, "ok?? text") == 0);
	/* First line only: Azure's descriptions go on with trace ids. */
	cmk_http_printable("AADSTS7000215: Invalid.\r\nTrace ID: 1", 36, 60,
			   out, sizeof(out));
	CHECK(strcmp(out, "AADSTS7000215: Invalid.") == 0);
	cmk_http_printable("abcdefghij", 10, 4, out, sizeof(out));
	CHECK(strcmp(out, "abcd...") == 0);
	cmk_http_printable("abcdefghij", 10, 60, out, 6);
	CHECK(strlen(out) < 6);
	CHECK(strstr(out, "...") != NULL);
	cmk_http_printable("abc", 3, 60, out, 1);
	CHECK(out[0] == '\0');
}

int main(void)
{
	escape();
	retry_after();
	backoff();
	same_origin();
	messages();
	return check_exit();
}
