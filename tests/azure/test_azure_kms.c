/* SPDX-License-Identifier: MIT */
/* One Azure provider handle shared by threads, against the Key Vault
 * emulator: test_azure_mount.sh runs it with a config while it expires the
 * emulator's tokens under it. Every thread fetches the current version,
 * lists the versions and fetches each enabled one, for `seconds` seconds;
 * every fetch of a version must give the same key in every thread.
 *
 * With SECRETS (a file of lines: the client secret, then key values in
 * base64), it then searches its own writable memory: no key value may be
 * left anywhere in it (the keys are held decoded, in locked memory), and
 * the client secret only in locked memory while the handle is open, and
 * nowhere once it is closed.
 *
 * usage: test_azure_kms CONF THREADS SECONDS [SECRETS]
 * Prints "fetches N lists M" and exits 0, or names the first failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "crypto/crypto.h"
#include "kms/kms.h"

#define MAX_THREADS 16
#define MAX_SEEN 64

static struct cmk_kms *kms;
static time_t end_time;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char id[CMK_KMS_VERSION_MAX + 1];
	uint8_t sum[CMK_SHA256_LEN]; /* of the key, not the key */
} seen[MAX_SEEN];
static size_t n_seen;
static unsigned long fetches, lists;
static int failed;

static void fail(const char *what, const struct cmk_err *err)
{
	pthread_mutex_lock(&seen_lock);
	if (!failed)
		fprintf(stderr, "test_azure_kms: %s: %s\n", what,
			err ? err->msg : "");
	failed = 1;
	pthread_mutex_unlock(&seen_lock);
}

/* Every thread must see the same key for a version. */
static void check_same(const char *id, const uint8_t *cmk)
{
	uint8_t sum[CMK_SHA256_LEN];
	size_t i;

	cmk_sha256(cmk, CMK_KEY_LEN, sum);
	pthread_mutex_lock(&seen_lock);
	fetches++;
	for (i = 0; i < n_seen; i++)
		if (strcmp(seen[i].id, id) == 0)
			break;
	if (i == n_seen && n_seen < MAX_SEEN) {
		strcpy(seen[n_seen].id, id);
		memcpy(seen[n_seen].sum, sum, sizeof(sum));
		n_seen++;
	} else if (i < n_seen && memcmp(seen[i].sum, sum, sizeof(sum)) != 0) {
		fprintf(stderr, "test_azure_kms: version %s gave two keys\n",
			id);
		failed = 1;
	}
	pthread_mutex_unlock(&seen_lock);
}

static void *worker(void *arg)
{
	char got[CMK_KMS_VERSION_MAX + 1];
	struct cmk_kms_version *v;
	struct cmk_err err;
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	size_t count;

	(void)arg;
	if (!cmk) {
		fail("no locked memory", NULL);
		return NULL;
	}
	while (!failed && time(NULL) < end_time) {
		if (cmk_kms_fetch(kms, NULL, cmk, got, &err)) {
			fail("fetch of the current version", &err);
			break;
		}
		check_same(got, cmk);
		if (cmk_kms_list_versions(kms, &v, &count, &err)) {
			fail("list", &err);
			break;
		}
		pthread_mutex_lock(&seen_lock);
		lists++;
		pthread_mutex_unlock(&seen_lock);
		for (size_t i = 0; i < count && !failed; i++) {
			if (!v[i].enabled)
				continue;
			if (cmk_kms_fetch(kms, v[i].id, cmk, NULL, &err)) {
				fail("fetch of a listed version", &err);
				break;
			}
			check_same(v[i].id, cmk);
		}
		free(v);
	}
	cmk_secure_free(cmk, CMK_KEY_LEN);
	return NULL;
}

#define SCAN_REGION_MAX (256ul << 20) /* skips sanitizer shadow memory */

/* Counts the copies of needle (len bytes) in this process's writable
 * mappings, except the needle itself; *locked gets those in locked memory.
 * Reads memory the sanitizer may have poisoned: not instrumented. */
__attribute__((no_sanitize("address", "undefined"))) static size_t
count_copies(const char *needle, size_t len, size_t *locked)
{
	unsigned long start, end;
	char line[512], perms[8];
	size_t n = 0;
	FILE *maps;

	*locked = 0;
	maps = fopen("/proc/self/maps", "r");
	if (!maps)
		return (size_t)-1;
	while (fgets(line, sizeof(line), maps)) {
		/* NOLINTNEXTLINE(cert-err34-c): the kernel's maps */
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r' || perms[1] != 'w' ||
		    end - start > SCAN_REGION_MAX || strstr(line, "[vvar"))
			continue;
		for (const volatile char *p = (const char *)start;
		     p + len <= (const char *)end; p++) {
			size_t i = 0;

			if (*p != needle[0] || p == needle)
				continue;
			while (i < len && p[i] == needle[i])
				i++;
			if (i < len)
				continue;
			n++;
			if (cmk_secure_is_locked((const void *)p))
				(*locked)++;
			else
				/* Where it is tells whose buffer it was. */
				fprintf(stderr,
					"test_azure_kms: unlocked copy at "
					"offset %#lx of mapping %s",
					(unsigned long)((const char *)p -
							(const char *)start),
					line);
		}
	}
	fclose(maps);
	return n;
}

/* Reads the secrets file into locked memory: NUL-separated lines. */
static char *read_needles(const char *path, size_t *cap)
{
	char *buf;
	ssize_t n;
	int fd;

	*cap = 4096;
	buf = cmk_secure_alloc(*cap);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!buf || fd < 0)
		return NULL;
	n = read(fd, buf, *cap - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = '\0';
	return buf;
}

/* line 0: the client secret; then key values. */
static int scan(const char *needles, size_t cap, bool open)
{
	size_t locked, copies, line = 0;
	int bad = 0;

	for (const char *s = needles; s < needles + cap && *s;
	     s += strlen(s) + 1, line++) {
		copies = count_copies(s, strlen(s), &locked);
		if (line == 0 && open ? copies != locked : copies != 0) {
			fprintf(stderr,
				"test_azure_kms: %s %zu: %zu copies in memory "
				"(%zu locked) %s\n",
				line ? "key value" : "client secret", line,
				copies, locked,
				open ? "with the handle open" : "after close");
			bad = 1;
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	int n;

	/* NOLINTNEXTLINE(cert-err34-c): a test harness argument */
	if (argc < 4 || argc > 5 || (n = atoi(argv[2])) < 1 ||
	    n > MAX_THREADS) {
		fprintf(stderr,
			"usage: test_azure_kms CONF THREADS SECONDS [SECRETS]\n");
		return 2;
	}
	if (cmk_crypto_init(&err) < 0 || cmk_conf_load(argv[1], &conf, &err)) {
		fprintf(stderr, "test_azure_kms: %s\n", err.msg);
		return 1;
	}
	cmk_kms_global_init();
	if (cmk_kms_open(&conf, &kms, &err)) {
		fprintf(stderr, "test_azure_kms: %s\n", err.msg);
		return 1;
	}
	/* NOLINTNEXTLINE(cert-err34-c): a test harness argument */
	end_time = time(NULL) + atoi(argv[3]);
	for (int i = 0; i < n; i++)
		if (pthread_create(&threads[i], NULL, worker, NULL)) {
			fprintf(stderr, "test_azure_kms: pthread_create\n");
			return 1;
		}
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	if (argc == 5) {
		size_t cap;
		char *needles = read_needles(argv[4], &cap);

		if (!needles) {
			fprintf(stderr, "test_azure_kms: cannot read %s\n",
				argv[4]);
			return 1;
		}
		failed |= scan(needles, cap, true);
		cmk_kms_close(kms);
		failed |= scan(needles, cap, false);
		cmk_secure_free(needles, cap);
	} else {
		cmk_kms_close(kms);
	}
	printf("fetches %lu lists %lu versions %zu%s\n", fetches, lists, n_seen,
	       argc == 5 ? ", no secret left in memory" : "");
	return failed || fetches == 0;
}
