/* SPDX-License-Identifier: MIT */
/* The key-service layer: checks arguments and dispatches to the provider
 * named by the config through its ops table. A new key service (Azure Key
 * Vault, HashiCorp Vault, Barbican) is a new table in providers[]. */
#include "kms/kms.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "kms/http.h"
#include "kms/provider.h"

struct cmk_kms {
	const struct cmk_kms_provider *ops;
	void *state;
	bool envelope;
	char key_name[CMK_KEY_NAME_MAX + 1];
};

static const struct cmk_kms_provider *const providers[] = {
	[CMK_PROVIDER_FILE] = &cmk_keystore_provider,
	[CMK_PROVIDER_AZURE] = &cmk_azure_provider,
	[CMK_PROVIDER_VAULT] = &cmk_vault_provider,
	[CMK_PROVIDER_BARBICAN] = &cmk_barbican_provider,
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
	/* JSON documents carry keys (a keystore, a key service's reply):
	 * every block jansson frees is wiped first. */
	json_set_alloc_funcs(cmk_locked_malloc, cmk_locked_free);
	/* libcurl is loaded, and pointed at the locked heap, by the
	 * first HTTPS provider that needs it (cmk_http_new()). */
}

void cmk_kms_global_init(void)
{
	pthread_once(&global_once, global_init_once);
}

/* How read_locked_file() takes a file. */
enum {
	READ_OWNER_ONLY = 1 << 0, /* a secret: owner-only, never a link */
	READ_RAW = 1 << 1,	  /* the bytes as they are: no trimming */
};

static int read_locked_file(const char *path, const char *what, size_t max,
			    unsigned int how, char **out, size_t *cap_out,
			    size_t *len_out, struct cmk_err *err)
{
	bool owner_only = how & READ_OWNER_ONLY;
	struct stat st;
	size_t cap = 0, len = 0;
	char *buf = NULL;
	int fd = -1;
	int ret;

	*out = NULL;
	ret = owner_only ? cmk_conf_check_secret_file(path, what, err) : 0;
	if (ret)
		return ret;
	/* A secret file as the check sees it: no links. A token file is
	 * followed: Kubernetes projects tokens as links into a ..data
	 * directory that it swaps on refresh. Never wait on a FIFO. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
				(owner_only ? O_NOFOLLOW : 0));
	if (fd < 0 || fstat(fd, &st) != 0) {
		ret = -errno;
		cmk_err_set(err, ret, "%s: %s: %s", path, what, strerror(-ret));
		goto out;
	}
	/* Once more on what was opened: the name may have been swapped. */
	if (!S_ISREG(st.st_mode) || (owner_only && (st.st_mode & 077))) {
		ret = cmk_err_set(err, -EACCES,
				  "%s: %s is not a regular file that only its "
				  "owner can read and write",
				  path, what);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = cmk_err_set(err, -EFBIG,
				  "%s: too big for a %s (%lld bytes; at most "
				  "%zu)",
				  path, what, (long long)st.st_size, max);
		goto out;
	}
	cap = (size_t)st.st_size + 1; /* one more, to see it grow */
	buf = cmk_secure_alloc(cap);
	if (!buf) {
		ret = cmk_err_set(err, -ENOMEM, "%s: no locked memory for a %s",
				  path, what);
		goto out;
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0) {
			ret = -errno;
			if (ret == -EINTR)
				continue;
			cmk_err_set(err, ret, "%s: %s", path, strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == cap) {
		ret = cmk_err_set(err, -EAGAIN, "%s: changed while being read",
				  path);
		goto out;
	}
	if (how & READ_RAW)
		goto done;
	/* Editors add a line end; secrets never end in blanks. */
	while (len && buf[len - 1] && strchr(" \t\r\n", buf[len - 1]))
		len--;
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\0', len)) {
		ret = cmk_err_set(err, -EINVAL, "%s: %s %s", path, what,
				  len ? "holds a NUL byte" : "is empty");
		goto out;
	}
done:
	*out = buf;
	*cap_out = cap;
	*len_out = len;
	buf = NULL;
	ret = 0;
out:
	cmk_secure_free(buf, cap);
	if (fd >= 0)
		close(fd);
	return ret;
}

int cmk_kms_read_secret_file(const char *path, const char *what, size_t max,
			     char **out, size_t *cap, size_t *len,
			     struct cmk_err *err)
{
	return read_locked_file(path, what, max, READ_OWNER_ONLY, out, cap, len,
				err);
}

int cmk_kms_read_secret_bytes(const char *path, const char *what, size_t max,
			      uint8_t **out, size_t *cap, size_t *len,
			      struct cmk_err *err)
{
	return read_locked_file(path, what, max, READ_OWNER_ONLY | READ_RAW,
				(char **)out, cap, len, err);
}

int cmk_kms_read_token_file(const char *path, const char *what, size_t max,
			    char **out, size_t *cap, size_t *len,
			    struct cmk_err *err)
{
	return read_locked_file(path, what, max, 0, out, cap, len, err);
}

bool cmk_kms_version_valid(const char *s)
{
	size_t len = s ? strnlen(s, CMK_KMS_VERSION_MAX + 1) : 0;

	return len > 0 && len <= CMK_KMS_VERSION_MAX &&
	       strspn(s, "0123456789abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-") == len;
}

/* Whatever goes wrong in a key service is the key service's fault, but a
 * wrong passphrase, which is the wrong key's. */
static int kms_cat(struct cmk_err *err, int ret)
{
	return cmk_err_cat(
		err, ret == -EKEYREJECTED ? CMK_CAT_WRONG_KEY : CMK_CAT_KMS,
		ret);
}

int cmk_kms_open(const struct cmk_conf *conf, struct cmk_kms **out,
		 struct cmk_err *err)
{
	const struct cmk_kms_provider *ops = NULL;
	struct cmk_kms *kms;
	const char *name;
	int ret;

	*out = NULL;
	/* Cheap and idempotent: protects a caller that forgot it. */
	cmk_kms_global_init();
	if ((size_t)conf->provider < sizeof(providers) / sizeof(providers[0]))
		ops = providers[conf->provider];
	if (!ops)
		return cmk_err_set(err, -EINVAL,
				   "%s: no key service configured "
				   "(set provider in [kms])",
				   conf->path);
	name = ops->key_name(conf);
	if (!name[0] || strlen(name) > CMK_KEY_NAME_MAX)
		return cmk_err_set(err, -EINVAL,
				   "%s: bad key name for "
				   "provider %s",
				   conf->path, ops->name);
	kms = calloc(1, sizeof(*kms));
	if (!kms)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	kms->ops = ops;
	kms->envelope = ops->envelope && ops->envelope(conf);
	strcpy(kms->key_name, name);
	ret = ops->open(conf, &kms->state, err);
	if (ret) {
		free(kms);
		return kms_cat(err, ret);
	}
	*out = kms;
	return 0;
}

void cmk_kms_close(struct cmk_kms *kms)
{
	if (!kms)
		return;
	kms->ops->close(kms->state);
	free(kms);
}

const char *cmk_kms_key_name(const struct cmk_kms *kms)
{
	return kms->key_name;
}

int cmk_kms_list_versions(struct cmk_kms *kms,
			  struct cmk_kms_version **versions, size_t *count,
			  struct cmk_err *err)
{
	*versions = NULL;
	*count = 0;
	return kms_cat(err, kms->ops->list_versions(kms->state, versions, count,
						    err));
}

int cmk_kms_fetch(struct cmk_kms *kms, const char *version, uint8_t *cmk,
		  char version_out[CMK_KMS_VERSION_MAX + 1],
		  struct cmk_err *err)
{
	char newest[CMK_KMS_VERSION_MAX + 1];
	int ret;

	if (kms->envelope)
		return kms_cat(err, cmk_err_set(err, -EINVAL,
						"key '%s' wraps keys and is "
						"never read",
						kms->key_name));
	/* The id is not echoed: it came from outside and may be anything. */
	if (version && !cmk_kms_version_valid(version))
		return cmk_err_set(err, -EINVAL,
				   "not a valid key version (1 to %d "
				   "characters of 0-9 A-Z a-z . _ -)",
				   CMK_KMS_VERSION_MAX);
	ret = kms->ops->fetch(kms->state, version, cmk, newest, err);
	if (ret) {
		cmk_cleanse(cmk, CMK_KEY_LEN);
		return kms_cat(err, ret);
	}
	if (version_out)
		strcpy(version_out, version ? version : newest);
	return 0;
}

int cmk_kms_cat(struct cmk_err *err, int ret)
{
	return kms_cat(err, ret);
}

bool cmk_kms_envelope(const struct cmk_kms *kms)
{
	return kms->envelope;
}

static int envelope_only(const struct cmk_kms *kms, struct cmk_err *err)
{
	if (kms->envelope)
		return 0;
	return cmk_err_set(err, -EINVAL,
			   "'%s' is a secret, not a key that wraps: this "
			   "volume needs [kms] key (Azure) or transit_key "
			   "(Vault)",
			   kms->key_name);
}

/* What a service returns must be what the descriptor can hold. */
static int wrapped_check(const struct cmk_kms *kms,
			 const struct cmk_kms_wrapped *w, struct cmk_err *err)
{
	if (w->len == 0 || w->len > CMK_KMS_WRAPPED_MAX ||
	    !cmk_kms_version_valid(w->version) || !w->alg[0] ||
	    strnlen(w->alg, sizeof(w->alg)) > CMK_KMS_ALG_MAX)
		return cmk_err_set(err, -EPROTO,
				   "%s: the wrapped key or its version is "
				   "malformed",
				   kms->key_name);
	return 0;
}

int cmk_kms_wrap(struct cmk_kms *kms, const uint8_t *key,
		 struct cmk_kms_wrapped *out, struct cmk_err *err)
{
	int ret = envelope_only(kms, err);

	memset(out, 0, sizeof(*out));
	if (ret == 0)
		ret = kms->ops->wrap(kms->state, key, out, err);
	if (ret == 0)
		ret = wrapped_check(kms, out, err);
	return kms_cat(err, ret);
}

int cmk_kms_unwrap(struct cmk_kms *kms, const struct cmk_kms_wrapped *in,
		   uint8_t *key, struct cmk_err *err)
{
	int ret = envelope_only(kms, err);

	if (ret == 0)
		ret = wrapped_check(kms, in, err);
	if (ret == 0)
		ret = kms->ops->unwrap(kms->state, in, key, err);
	if (ret)
		cmk_cleanse(key, CMK_KEY_LEN);
	return kms_cat(err, ret);
}

int cmk_kms_rewrap(struct cmk_kms *kms, const struct cmk_kms_wrapped *in,
		   struct cmk_kms_wrapped *out, struct cmk_err *err)
{
	uint8_t *key;
	int ret = envelope_only(kms, err);

	if (ret == 0)
		ret = wrapped_check(kms, in, err);
	if (ret)
		return kms_cat(err, ret);
	memset(out, 0, sizeof(*out));
	if (kms->ops->rewrap) {
		ret = kms->ops->rewrap(kms->state, in, out, err);
		if (ret == 0)
			ret = wrapped_check(kms, out, err);
		return kms_cat(err, ret);
	}
	key = cmk_secure_alloc(CMK_KEY_LEN);
	if (!key)
		return kms_cat(err, cmk_err_set(err, -ENOMEM,
						"out of locked memory"));
	ret = kms->ops->unwrap(kms->state, in, key, err);
	if (ret == 0)
		ret = kms->ops->wrap(kms->state, key, out, err);
	if (ret == 0)
		ret = wrapped_check(kms, out, err);
	cmk_secure_free(key, CMK_KEY_LEN);
	return kms_cat(err, ret);
}
