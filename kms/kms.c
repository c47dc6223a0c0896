/* The key-service layer: checks arguments and dispatches to the provider
 * named by the config through its ops table. A new key service (Azure Key
 * Vault, HashiCorp Vault, Barbican) is a new table in providers[]. */
#include "kms/kms.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "kms/keystore_internal.h"

struct cmk_kms {
	const struct cmk_kms_provider *ops;
	void *state;
	char key_name[CMK_KEY_NAME_MAX + 1];
};

static const struct cmk_kms_provider *const providers[] = {
	[CMK_PROVIDER_FILE] = &cmk_keystore_provider,
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
	/* JSON documents carry keys (a keystore, a key service's reply):
	 * every block jansson frees is wiped first. */
	json_set_alloc_funcs(cmk_wiping_malloc, cmk_wiping_free);
}

void cmk_kms_global_init(void)
{
	pthread_once(&global_once, global_init_once);
}

bool cmk_kms_version_valid(const char *s)
{
	return s && cmk_version_id_valid(s);
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
		return cmk_err_set(err, -EINVAL, "%s: bad key name for "
				   "provider %s", conf->path, ops->name);
	kms = calloc(1, sizeof(*kms));
	if (!kms)
		return cmk_err_set(err, -ENOMEM, "out of memory");
	kms->ops = ops;
	strcpy(kms->key_name, name);
	ret = ops->open(conf, &kms->state, err);
	if (ret) {
		free(kms);
		return ret;
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
	return kms->ops->list_versions(kms->state, versions, count, err);
}

int cmk_kms_fetch(struct cmk_kms *kms, const char *version, uint8_t *cmk,
		  char version_out[CMK_VERSION_MAX + 1], struct cmk_err *err)
{
	char newest[CMK_VERSION_MAX + 1];
	int ret;

	/* The id is not echoed: it came from outside and may be anything. */
	if (version && !cmk_kms_version_valid(version))
		return cmk_err_set(err, -EINVAL,
				   "not a valid key version (1 to %d "
				   "characters of 0-9 A-Z a-z . _ -)",
				   CMK_VERSION_MAX);
	ret = kms->ops->fetch(kms->state, version, cmk, newest, err);
	if (ret) {
		cmk_cleanse(cmk, CMK_KEY_LEN);
		return ret;
	}
	if (version_out)
		strcpy(version_out, version ? version : newest);
	return 0;
}
