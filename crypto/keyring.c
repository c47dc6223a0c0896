/* SPDX-License-Identifier: MIT */
#include "crypto/keyring.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct keyring_entry {
	char version[CMK_VERSION_MAX + 1];
	uint8_t *key; /* CMK_KEY_LEN bytes of secure memory */
};

struct cmk_keyring {
	pthread_rwlock_t lock;
	struct keyring_entry *entries;
	size_t count;
	size_t capacity;
	int newest;	     /* index into entries, -1 when none */
	uint64_t generation; /* bumped whenever a version goes */
};

int cmk_keyring_new(struct cmk_keyring **out)
{
	struct cmk_keyring *kr = calloc(1, sizeof(*kr));

	if (!kr)
		return -ENOMEM;
	pthread_rwlock_init(&kr->lock, NULL);
	kr->newest = -1;
	*out = kr;
	return 0;
}

void cmk_keyring_free(struct cmk_keyring *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < kr->count; i++)
		cmk_secure_free(kr->entries[i].key, CMK_KEY_LEN);
	free(kr->entries);
	pthread_rwlock_destroy(&kr->lock);
	free(kr);
}

static int find(const struct cmk_keyring *kr, const char *version)
{
	for (size_t i = 0; i < kr->count; i++)
		if (strcmp(kr->entries[i].version, version) == 0)
			return (int)i;
	return -1;
}

int cmk_keyring_add(struct cmk_keyring *kr, const char *version,
		    const uint8_t cmk[CMK_KEY_LEN], bool newest)
{
	struct keyring_entry *grown;
	int ret = 0;
	int i;

	if (!cmk_version_id_valid(version))
		return -EINVAL;
	pthread_rwlock_wrlock(&kr->lock);
	i = find(kr, version);
	if (i < 0) {
		if (kr->count == kr->capacity) {
			size_t cap = kr->capacity ? 2 * kr->capacity : 4;

			grown = realloc(kr->entries, cap * sizeof(*grown));
			if (!grown) {
				ret = -ENOMEM;
				goto out;
			}
			kr->entries = grown;
			kr->capacity = cap;
		}
		i = (int)kr->count;
		memset(&kr->entries[i], 0, sizeof(kr->entries[i]));
		kr->entries[i].key = cmk_secure_alloc(CMK_KEY_LEN);
		if (!kr->entries[i].key) {
			ret = -ENOMEM;
			goto out;
		}
		strcpy(kr->entries[i].version, version);
		kr->count++;
	}
	memcpy(kr->entries[i].key, cmk, CMK_KEY_LEN);
	if (newest)
		kr->newest = i;
out:
	pthread_rwlock_unlock(&kr->lock);
	return ret;
}

int cmk_keyring_remove(struct cmk_keyring *kr, const char *version)
{
	int ret = -ENOENT;
	int i;

	pthread_rwlock_wrlock(&kr->lock);
	i = find(kr, version);
	if (i >= 0) {
		cmk_secure_free(kr->entries[i].key, CMK_KEY_LEN);
		kr->entries[i] = kr->entries[kr->count - 1];
		kr->count--;
		if (kr->newest == i)
			kr->newest = -1;
		else if (kr->newest == (int)kr->count)
			kr->newest = i;
		__atomic_add_fetch(&kr->generation, 1, __ATOMIC_RELEASE);
		ret = 0;
	}
	pthread_rwlock_unlock(&kr->lock);
	return ret;
}

uint64_t cmk_keyring_generation(struct cmk_keyring *kr)
{
	return __atomic_load_n(&kr->generation, __ATOMIC_ACQUIRE);
}

bool cmk_keyring_has(struct cmk_keyring *kr, const char *version)
{
	bool has;

	pthread_rwlock_rdlock(&kr->lock);
	has = find(kr, version) >= 0;
	pthread_rwlock_unlock(&kr->lock);
	return has;
}

int cmk_keyring_set_newest(struct cmk_keyring *kr, const char *version)
{
	int i;

	pthread_rwlock_wrlock(&kr->lock);
	i = find(kr, version);
	if (i >= 0)
		kr->newest = i;
	pthread_rwlock_unlock(&kr->lock);
	return i >= 0 ? 0 : -ENOENT;
}

size_t cmk_keyring_versions(struct cmk_keyring *kr,
			    char (*ids)[CMK_VERSION_MAX + 1], size_t max)
{
	size_t n;

	pthread_rwlock_rdlock(&kr->lock);
	n = kr->count;
	for (size_t i = 0; i < n && i < max; i++)
		strcpy(ids[i], kr->entries[i].version);
	pthread_rwlock_unlock(&kr->lock);
	return n;
}

int cmk_keyring_get(struct cmk_keyring *kr, const char *version,
		    uint8_t cmk[CMK_KEY_LEN])
{
	int ret = -ENOKEY;
	int i;

	pthread_rwlock_rdlock(&kr->lock);
	i = find(kr, version);
	if (i >= 0) {
		memcpy(cmk, kr->entries[i].key, CMK_KEY_LEN);
		ret = 0;
	}
	pthread_rwlock_unlock(&kr->lock);
	return ret;
}

int cmk_keyring_get_newest(struct cmk_keyring *kr,
			   char version[CMK_VERSION_MAX + 1],
			   uint8_t cmk[CMK_KEY_LEN])
{
	int ret = -ENOKEY;

	pthread_rwlock_rdlock(&kr->lock);
	if (kr->newest >= 0) {
		strcpy(version, kr->entries[kr->newest].version);
		memcpy(cmk, kr->entries[kr->newest].key, CMK_KEY_LEN);
		ret = 0;
	}
	pthread_rwlock_unlock(&kr->lock);
	return ret;
}

int cmk_keyring_unwrap(struct cmk_keyring *kr,
		       const uint8_t hdr[CMK_HEADER_SIZE],
		       const struct cmk_header_info *info,
		       uint8_t dek[CMK_KEY_LEN], int *slot_used,
		       struct cmk_err *err)
{
	const struct cmk_slot_info *slot;
	uint8_t *cmk;
	int ret;

	if (info->active < 0)
		return cmk_err_set(err, -EBADMSG, "no valid key slot");
	/* The active slot only: once a rewrap has moved a file to a newer
	 * version, the older slot's version no longer opens it, so that
	 * revoking the newer version revokes the file. */
	slot = &info->slots[info->active];
	cmk = cmk_secure_alloc(CMK_KEY_LEN);
	if (!cmk)
		return cmk_err_set(err, -ENOMEM, "out of locked memory");
	if (cmk_keyring_get(kr, slot->cmk_version, cmk) != 0) {
		ret = cmk_err_set(err, -ENOKEY,
				  "wrapped with CMK version %s, which this "
				  "process does not hold",
				  slot->cmk_version);
		goto out;
	}
	ret = cmk_header_open_slot(hdr, info->active, cmk, dek);
	if (ret)
		cmk_err_set(err, ret,
			    "key slot %d (CMK version %s) does not "
			    "authenticate: wrong key or tampered header",
			    info->active, slot->cmk_version);
	else if (slot_used)
		*slot_used = info->active;
out:
	cmk_secure_free(cmk, CMK_KEY_LEN);
	return ret;
}
