/* The Azure Key Vault provider (provider = azure): its limits and the pure
 * parts of its protocol, exposed for the unit tests. The provider table is
 * declared in kms/provider.h. */
#ifndef CMKFS_KMS_AZURE_H
#define CMKFS_KMS_AZURE_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/format.h" /* CMK_VERSION_MAX */

/* One key-service operation (a fetch or a list, with the token it needs,
 * every retry and every wait) ends after this many seconds, or after one
 * timeout when that is longer: an unreachable vault fails a mount in
 * bounded time. */
#define CMK_AZURE_BUDGET 20
#define CMK_AZURE_PAGES_MAX 100	       /* pages of versions followed */
#define CMK_AZURE_SECRET_FILE_MAX 4096 /* bytes of client secret */
#define CMK_AZURE_TOKEN_MAX (16u * 1024u)
#define CMK_AZURE_VALUE_MAX 256	       /* characters of a base64 key value */
#define CMK_AZURE_IMDS_API "2018-02-01"
#define CMK_AZURE_TOKEN_RENEW_MAX 300  /* renew at most this early (s) */

/* The resource (audience) of a vault's tokens: https://vault.azure.net,
 * or a sovereign cloud's when vault_url names one of its vault hosts. */
const char *cmk_azure_resource(const char *vault_url);

/* The version id in a secret's "id" URL: its last path segment, which
 * must follow "/secrets/NAME/" (NAME compared without case) and be a
 * valid version id. 0 or -EINVAL. */
int cmk_azure_version_from_id(const char *id, const char *secret,
			      char out[CMK_VERSION_MAX + 1]);

enum cmk_azure_usable {
	CMK_AZURE_USABLE = 0,
	CMK_AZURE_DISABLED, /* attributes.enabled is not true */
	CMK_AZURE_NOT_YET,  /* now < nbf */
	CMK_AZURE_EXPIRED,  /* now >= exp */
};

/* Whether a version may be used at time now (seconds since the epoch):
 * Key Vault reports nbf and exp but does not enforce them on reads, so
 * cmkfs does. has_nbf/has_exp false: no such limit. */
enum cmk_azure_usable cmk_azure_usable(bool enabled, bool has_nbf,
				       int64_t nbf, bool has_exp, int64_t exp,
				       int64_t now);

/* True while a token obtained at obtained_ms and expiring at expires_ms
 * (monotonic) may still be used at now_ms: it is renewed early, by half
 * its lifetime or CMK_AZURE_TOKEN_RENEW_MAX seconds, whichever is less. */
bool cmk_azure_token_fresh(int64_t now_ms, int64_t obtained_ms,
			   int64_t expires_ms);

/* Parses a lifetime or time that Azure sends as a JSON number or as a
 * string of digits ("3599"); false for anything else. */
bool cmk_azure_parse_seconds(const char *s, int64_t *out);

#endif
