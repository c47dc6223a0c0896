/* SPDX-License-Identifier: MIT */
/* The key-service targets (fuzz_azure, fuzz_vault, fuzz_barbican): a
 * provider driven as a mount drives it, with its HTTPS client replaced by
 * answers taken from the input (fuzz_kms.c, linked with --wrap so that the
 * providers' calls to cmk_http_new/request/free land there; kms/http.c's
 * own helpers stay real). So every line of a provider that reads an answer
 * runs on fuzzed bodies and status codes, unchanged.
 *
 * An input is a first byte, then answers separated by RS (0x1e). Bits 0-1
 * of the first byte pick one of the target's configurations, bits 2-3 the
 * operation (list the versions; fetch the current key; fetch version
 * `version`; list, then fetch the newest listed). An answer is three
 * digits of HTTP status and the body ("200{...}"); without the digits it
 * is a 200 with the whole chunk as body. When the answers run out, a
 * request fails as an unreachable service does. */
#ifndef CMKFS_TESTS_FUZZ_KMS_H
#define CMKFS_TESTS_FUZZ_KMS_H

#include "conf/conf.h"
#include "kms/provider.h"

#define FUZZ_KMS_SEP 0x1e
#define FUZZ_KMS_CONFS 4

/* Once, from LLVMFuzzerInitialize: crypto and kms set up, secret files
 * written into fuzz_tmpdir() (each NAME=CONTENT in secrets[], NULL
 * ended), and each configuration text loaded with cmk_conf_load() (@DIR@ in
 * a text is the directory). confs[] repeats to fill FUZZ_KMS_CONFS. */
void fuzz_kms_init(const char *const *secrets, const char *const *texts,
		   struct cmk_conf *confs);

/* One input through provider p with confs[]: the operation's result, and
 * in *listed (may be NULL) how many versions a list gave. */
int fuzz_kms_run(const struct cmk_kms_provider *p, const struct cmk_conf *confs,
		 const char *version, const uint8_t *data, size_t size,
		 size_t *listed);

#endif
