/* libcurl, loaded when the first HTTPS provider needs it (dlopen) rather
 * than at every start: its chain of libraries (Kerberos, LDAP, GnuTLS,
 * libssh2, ...) costs about 10 ms per exec, which the local keystore, the
 * admin commands and every mount with it would pay for nothing. */
#ifndef CMKFS_KMS_CURL_LIB_H
#define CMKFS_KMS_CURL_LIB_H

#include <curl/curl.h>

#include "common/err.h"

#define CMK_CURL_SONAME "libcurl.so.4"

/* The libcurl functions cmkfs calls. */
struct cmk_curl {
	CURLcode (*global_init_mem)(long flags, curl_malloc_callback m,
				    curl_free_callback f,
				    curl_realloc_callback r,
				    curl_strdup_callback s,
				    curl_calloc_callback c);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list,
					   const char *line);
	void (*slist_free_all)(struct curl_slist *list);
	curl_version_info_data *(*version_info)(CURLversion version);
};

/* Loads libcurl once (thread-safe); NULL when it cannot be loaded, with
 * the reason in err (may be NULL). */
const struct cmk_curl *cmk_curl_lib(struct cmk_err *err);

#endif
