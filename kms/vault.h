/* SPDX-License-Identifier: MIT */
/* The HashiCorp Vault / OpenBao provider (provider = vault): its limits
 * and the pure parts of its protocol, exposed for the unit tests. The
 * provider table is declared in kms/provider.h. */
#ifndef CMKFS_KMS_VAULT_H
#define CMKFS_KMS_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMK_VAULT_SECRET_FILE_MAX 4096 /* bytes of a token or secret_id */
#define CMK_VAULT_VERSIONS_MAX 10000   /* versions listed in metadata */
#define CMK_VAULT_ERRORS_QUOTED 2      /* entries of "errors" quoted */

/* Whether a KV version with this deletion_time ("" or an RFC 3339 time,
 * possibly in the future when delete_version_after scheduled it) and
 * destroyed flag may be used at time now. -1 when deletion_time does not
 * parse. */
int cmk_vault_version_usable(const char *deletion_time, bool destroyed,
			     int64_t now);

/* A KV version number as Vault sends it (a JSON integer, or a key of the
 * metadata's "versions" object) turned into our version id: decimal
 * digits, 1 to 2^53. False for anything else. */
bool cmk_vault_version_id(int64_t number, char *out, size_t size);

/* The explanation in a Vault error body {"errors": ["a", "b"]}: the first
 * CMK_VAULT_ERRORS_QUOTED entries joined with "; ", made printable and
 * cut at max characters; "" when there is none. */
void cmk_vault_errors_text(const char *body, size_t len, size_t max, char *out,
			   size_t size);

#endif
