/* SPDX-License-Identifier: MIT */
/* The OpenStack Key Manager provider (provider = barbican): its limits and
 * the pure parts of its protocol, exposed for the unit tests. The provider
 * table is declared in kms/provider.h. */
#ifndef CMKFS_KMS_BARBICAN_H
#define CMKFS_KMS_BARBICAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms/kms.h" /* CMK_KMS_VERSION_MAX */

#define CMK_BARBICAN_SECRET_FILE_MAX 4096 /* application credential secret */
#define CMK_BARBICAN_PAGE 100		  /* secrets asked for per page */
#define CMK_BARBICAN_PAGES_MAX 100	  /* pages followed */

/* The secret's UUID in a secret_ref URL ".../v1/secrets/UUID": its last
 * path segment, a valid version id. 0 or -EINVAL. */
int cmk_barbican_uuid_from_ref(const char *ref,
			       char out[CMK_KMS_VERSION_MAX + 1]);

/* Whether a secret may be used at time now: status ACTIVE (or no status)
 * and no expiration, or one still ahead ("2026-01-01T00:00:00", UTC).
 * -1 when expiration does not parse. */
int cmk_barbican_usable(const char *status, const char *expiration,
			int64_t now);

/* Keystone's token URL for an auth_url: AUTH_URL/auth/tokens when it ends
 * in /v3, else AUTH_URL/v3/auth/tokens. 0 or -ENAMETOOLONG. */
int cmk_barbican_token_url(const char *auth_url, char *out, size_t size);

#endif
