/* SPDX-License-Identifier: MIT */
/* The Azure Key Vault provider (provider = azure): its limits and the pure
 * parts of its protocol, exposed for the unit tests. The provider table is
 * declared in kms/provider.h. */
#ifndef CMKFS_KMS_AZURE_H
#define CMKFS_KMS_AZURE_H

#include <stdbool.h>
#include <stdint.h>

#include "kms/kms.h" /* CMK_KMS_VERSION_MAX */

#define CMK_AZURE_PAGES_MAX 100	       /* pages of versions followed */
#define CMK_AZURE_VERSIONS_MAX 10000   /* versions listed, all pages */
#define CMK_AZURE_SECRET_FILE_MAX 4096 /* bytes of client secret */
#define CMK_AZURE_IMDS_API "2018-02-01"

/* The resource (audience) of a vault's tokens: https://vault.azure.net,
 * or a sovereign cloud's when vault_url names one of its vault hosts. */
const char *cmk_azure_resource(const char *vault_url);

/* The version id in a secret's "id" URL: its last path segment, which
 * must follow "/secrets/NAME/" (NAME compared without case) and be a
 * valid version id. 0 or -EINVAL. */
int cmk_azure_version_from_id(const char *id, const char *secret,
			      char out[CMK_KMS_VERSION_MAX + 1]);

enum cmk_azure_usable {
	CMK_AZURE_USABLE = 0,
	CMK_AZURE_DISABLED, /* attributes.enabled is not true */
	CMK_AZURE_NOT_YET,  /* now < nbf */
	CMK_AZURE_EXPIRED,  /* now >= exp */
};

/* Whether a version may be used at time now (seconds since the epoch):
 * Key Vault reports nbf and exp but does not enforce them on reads, so
 * cmkfs does. has_nbf/has_exp false: no such limit. */
enum cmk_azure_usable cmk_azure_usable(bool enabled, bool has_nbf, int64_t nbf,
				       bool has_exp, int64_t exp, int64_t now);

/* Parses a lifetime or time that Azure sends as a JSON number or as a
 * string of digits ("3599"); false for anything else. */
bool cmk_azure_parse_seconds(const char *s, int64_t *out);

#endif
