/* See curl_lib.h. */
#include "kms/curl_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static struct cmk_curl curl_table;
static const struct cmk_curl *curl_loaded;
static char curl_error[256];

static void curl_load(void)
{
	void *h = dlopen(CMK_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	struct {
		const char *name;
		void **slot;
	} syms[] = {
		{ "curl_global_init_mem", (void **)&curl_table.global_init_mem },
		{ "curl_easy_init", (void **)&curl_table.easy_init },
		{ "curl_easy_setopt", (void **)&curl_table.easy_setopt },
		{ "curl_easy_perform", (void **)&curl_table.easy_perform },
		{ "curl_easy_getinfo", (void **)&curl_table.easy_getinfo },
		{ "curl_easy_cleanup", (void **)&curl_table.easy_cleanup },
		{ "curl_easy_strerror", (void **)&curl_table.easy_strerror },
		{ "curl_slist_append", (void **)&curl_table.slist_append },
		{ "curl_slist_free_all", (void **)&curl_table.slist_free_all },
		{ "curl_version_info", (void **)&curl_table.version_info },
	};

	if (!h) {
		const char *why = dlerror();

		snprintf(curl_error, sizeof(curl_error),
			 "cannot load %s, which HTTPS key services need: %s "
			 "(install libcurl4)",
			 CMK_CURL_SONAME, why ? why : "unknown error");
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			snprintf(curl_error, sizeof(curl_error),
				 "%s lacks %s: too old a libcurl",
				 CMK_CURL_SONAME, syms[i].name);
			return;
		}
	}
	/* Never unloaded: libcurl keeps global state. */
	curl_loaded = &curl_table;
}

const struct cmk_curl *cmk_curl_lib(struct cmk_err *err)
{
	pthread_once(&curl_once, curl_load);
	if (!curl_loaded && err)
		cmk_err_set(err, -ELIBACC, "%s", curl_error);
	return curl_loaded;
}
