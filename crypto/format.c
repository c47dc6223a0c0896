/* SPDX-License-Identifier: MIT */
/* Header and volume descriptor encoding. Layout constants mirror
 * docs/FORMAT.md; all integers are little-endian. */
#include "crypto/format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const uint8_t header_magic[8] = {
	'C', 'M', 'K', 'F', 'S', 'H', 'D', 'R'
};
static const uint8_t volume_magic[8] = {
	'C', 'M', 'K', 'F', 'S', 'V', 'O', 'L'
};

/* Header: fixed fields. */
#define H_MAGIC 0
#define H_VERSION 8
#define H_SUITE 10
#define H_UNIT 12
#define H_HDRSIZE 16
#define H_RESERVED1 20 /* 12 bytes */
#define H_VOLUME_ID 32
#define H_FILE_ID 48
#define H_FIXED_LEN 64
#define H_RESERVED2 (CMK_SLOT_OFF(CMK_SLOT_COUNT)) /* up to the tiny area */

/* Slot fields, relative to the slot. */
#define S_SEQ 0
#define S_VLEN 8
#define S_VERSION 9
#define S_RESERVED1 73 /* 3 bytes */
#define S_NONCE 76
#define S_WRAPPED 88
#define S_TAG 120
#define S_RESERVED2 136 /* 88 bytes */
#define S_CHECKSUM 224
#define S_AAD_LEN S_NONCE /* seq, version and reserved are authenticated */

/* Volume descriptor fields. */
#define V_MAGIC 0
#define V_VERSION 8
#define V_SUITE 10
#define V_UNIT 12
#define V_HDRSIZE 16
#define V_FLAGS 20
#define V_RESERVED1 24 /* 8 bytes */
#define V_VOLUME_ID 32
#define V_NAME_LEN 48
#define V_NAME 49
#define V_MACVER_LEN (V_NAME + CMK_NAME_MAX)
#define V_MACVER (V_MACVER_LEN + 1)
#define V_RESERVED2 (V_MACVER + CMK_VERSION_MAX) /* up to the slots */
#define V_SLOTS CMK_VSLOT_OFF(0)
#define V_SLOTS_END CMK_VSLOT_OFF(CMK_SLOT_COUNT)
#define V_RESERVED3 V_SLOTS_END /* up to the MAC */
#define V_MAC (CMK_VOLUME_SIZE - CMK_SHA256_LEN)
#define V_FIXED_LEN V_NAME_LEN /* magic .. volume id: the slots' AAD */
#define V_ENVELOPES CMK_ENVELOPE_OFF(0)
#define V_ENVELOPES_END CMK_ENVELOPE_OFF(CMK_ENVELOPE_COUNT)

/* Envelope record fields, relative to the record. */
#define E_USED 0
#define E_VKID_LEN 1
#define E_VKID 2
#define E_VER_LEN (E_VKID + CMK_VERSION_MAX)
#define E_VER (E_VER_LEN + 1)
#define E_ALG_LEN (E_VER + CMK_VERSION_MAX)
#define E_ALG (E_ALG_LEN + 1)
#define E_LINK_FROM_LEN (E_ALG + CMK_ENVELOPE_ALG_MAX)
#define E_LINK_FROM (E_LINK_FROM_LEN + 1)
#define E_LINK (E_LINK_FROM + CMK_VERSION_MAX)
#define E_BLOB_LEN (E_LINK + CMK_SHA256_LEN)
#define E_BLOB (E_BLOB_LEN + 2)
_Static_assert(E_BLOB + CMK_ENVELOPE_BLOB_MAX <= CMK_ENVELOPE_SIZE,
	       "an envelope record holds its largest blob");
_Static_assert(V_ENVELOPES >= V_SLOTS_END && V_ENVELOPES_END <= V_MAC,
	       "envelope records lie between the name slots and the MAC");

/* The slot code serves headers and descriptors alike; the larger fixed
 * part sizes the associated-data buffer. */
#define SLOT_AAD_MAX (H_FIXED_LEN + S_AAD_LEN)

static const char info_dek_wrap[] = "cmkfs v1 dek wrap";
static const char info_xts[] = "cmkfs v1 xts key";
static const char info_volume_mac[] = "cmkfs v1 volume mac";
static const char info_name_wrap[] = "cmkfs v1 name key wrap";

/* Where a slot lives and what binds it: a header's DEK slots and a
 * descriptor's name-key slots differ only in these. */
struct slot_owner {
	const uint8_t *fixed; /* start of the container: the AAD prefix */
	size_t fixed_len;
	const uint8_t *salt; /* CMK_ID_LEN bytes: file id or volume id */
	const char *info;    /* HKDF info of the wrapping key */
};

static void header_owner(const uint8_t *hdr, struct slot_owner *o)
{
	o->fixed = hdr;
	o->fixed_len = H_FIXED_LEN;
	o->salt = hdr + H_FILE_ID;
	o->info = info_dek_wrap;
}

static void volume_owner(const uint8_t *buf, struct slot_owner *o)
{
	o->fixed = buf;
	o->fixed_len = V_FIXED_LEN;
	o->salt = buf + V_VOLUME_ID;
	o->info = info_name_wrap;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

bool cmk_version_id_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > CMK_VERSION_MAX)
		return false;
	return strspn(s, "0123456789abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-") == len;
}

/* Reads a length-prefixed string field; false when malformed. */
static bool get_string(const uint8_t *len_byte, const uint8_t *field,
		       size_t field_len, char *out)
{
	size_t len = *len_byte;

	if (len == 0 || len > field_len ||
	    !all_zero(field + len, field_len - len))
		return false;
	memcpy(out, field, len);
	out[len] = '\0';
	return strlen(out) == len;
}

/* --- key slots (headers and descriptors) ------------------------------- */
static void parse_slot(const uint8_t *s, struct cmk_slot_info *slot)
{
	uint8_t sum[CMK_SHA256_LEN];

	memset(slot, 0, sizeof(*slot));
	if (all_zero(s, CMK_SLOT_SIZE)) {
		slot->state = CMK_SLOT_EMPTY;
		return;
	}
	slot->state = CMK_SLOT_DAMAGED;
	if (cmk_sha256(s, S_CHECKSUM, sum) != 0 ||
	    !cmk_memeq_ct(sum, s + S_CHECKSUM, CMK_SHA256_LEN)) {
		slot->problem = "checksum mismatch (torn or altered)";
		return;
	}
	slot->seq = get64(s + S_SEQ);
	if (slot->seq == 0) {
		slot->problem = "sequence number 0";
		return;
	}
	if (!get_string(s + S_VLEN, s + S_VERSION, CMK_VERSION_MAX,
			slot->cmk_version) ||
	    !cmk_version_id_valid(slot->cmk_version)) {
		slot->problem = "malformed CMK version";
		slot->cmk_version[0] = '\0';
		return;
	}
	if (!all_zero(s + S_RESERVED1, S_NONCE - S_RESERVED1) ||
	    !all_zero(s + S_RESERVED2, S_CHECKSUM - S_RESERVED2)) {
		slot->problem = "reserved bytes are not zero";
		return;
	}
	slot->state = CMK_SLOT_VALID;
}

/* Parses both slots starting at first; returns the active one or -1. */
static int parse_slots(const uint8_t *first, struct cmk_slot_info *slots)
{
	int active = -1;

	for (int i = 0; i < CMK_SLOT_COUNT; i++) {
		parse_slot(first + (size_t)i * CMK_SLOT_SIZE, &slots[i]);
		if (slots[i].state == CMK_SLOT_VALID &&
		    (active < 0 || slots[i].seq > slots[active].seq))
			active = i;
	}
	return active;
}

static const char *slot_problem(const struct cmk_slot_info *slot)
{
	return slot->problem ? slot->problem : "empty";
}

/* The wrapping key: HKDF-SHA256(cmk, salt = file id or volume id). */
static int derive_kek(const struct slot_owner *o,
		      const uint8_t cmk[CMK_KEY_LEN], uint8_t **kek)
{
	int ret;

	*kek = cmk_secure_alloc(CMK_KEY_LEN);
	if (!*kek)
		return -ENOMEM;
	ret = cmk_hkdf_sha256(cmk, CMK_KEY_LEN, o->salt, CMK_ID_LEN, o->info,
			      *kek, CMK_KEY_LEN);
	if (ret) {
		cmk_secure_free(*kek, CMK_KEY_LEN);
		*kek = NULL;
	}
	return ret;
}

/* AAD: the container's fixed part, then the slot's first 76 bytes. */
static size_t slot_aad(const struct slot_owner *o, const uint8_t *s,
		       uint8_t aad[SLOT_AAD_MAX])
{
	memcpy(aad, o->fixed, o->fixed_len);
	memcpy(aad + o->fixed_len, s, S_AAD_LEN);
	return o->fixed_len + S_AAD_LEN;
}

/* Builds a sealed slot in a scratch buffer and copies it to dst in one go,
 * so that dst changes only when sealing succeeded. */
static int seal_slot(const struct slot_owner *o, uint8_t *dst, uint64_t seq,
		     const char *cmk_version, const uint8_t cmk[CMK_KEY_LEN],
		     const uint8_t key[CMK_KEY_LEN], const uint8_t *nonce)
{
	uint8_t s[CMK_SLOT_SIZE];
	uint8_t aad[SLOT_AAD_MAX];
	size_t vlen, aad_len;
	uint8_t *kek = NULL;
	int ret;

	if (seq == 0 || !cmk_version_id_valid(cmk_version))
		return -EINVAL;
	vlen = strlen(cmk_version);
	memset(s, 0, sizeof(s));
	put64(s + S_SEQ, seq);
	s[S_VLEN] = (uint8_t)vlen;
	memcpy(s + S_VERSION, cmk_version, vlen);
	if (nonce)
		memcpy(s + S_NONCE, nonce, CMK_GCM_NONCE_LEN);
	else
		cmk_random(s + S_NONCE, CMK_GCM_NONCE_LEN);
	ret = derive_kek(o, cmk, &kek);
	if (ret)
		return ret;
	aad_len = slot_aad(o, s, aad);
	ret = cmk_gcm_seal(kek, s + S_NONCE, aad, aad_len, key, CMK_KEY_LEN,
			   s + S_WRAPPED, s + S_TAG);
	cmk_secure_free(kek, CMK_KEY_LEN);
	if (ret)
		return ret;
	ret = cmk_sha256(s, S_CHECKSUM, s + S_CHECKSUM);
	if (ret)
		return ret;
	memcpy(dst, s, CMK_SLOT_SIZE);
	return 0;
}

static int open_slot(const struct slot_owner *o, const uint8_t *s,
		     const uint8_t cmk[CMK_KEY_LEN], uint8_t key[CMK_KEY_LEN])
{
	uint8_t aad[SLOT_AAD_MAX];
	size_t aad_len;
	uint8_t *kek = NULL;
	int ret;

	ret = derive_kek(o, cmk, &kek);
	if (ret)
		return ret;
	aad_len = slot_aad(o, s, aad);
	ret = cmk_gcm_open(kek, s + S_NONCE, aad, aad_len, s + S_WRAPPED,
			   CMK_KEY_LEN, s + S_TAG, key);
	cmk_secure_free(kek, CMK_KEY_LEN);
	return ret;
}

static int next_slot(const struct cmk_slot_info *slots, int active, int *slot,
		     uint64_t *seq)
{
	uint64_t max_seq = 0;

	for (int i = 0; i < CMK_SLOT_COUNT; i++)
		if (slots[i].state == CMK_SLOT_VALID && slots[i].seq > max_seq)
			max_seq = slots[i].seq;
	*slot = active < 0 ? 0 : 1 - active;
	/* One more would wrap to 0, which no reader takes for newer. */
	if (max_seq == UINT64_MAX)
		return -EOVERFLOW;
	*seq = max_seq + 1;
	return 0;
}

/* --- file header --------------------------------------------------------- */
int cmk_header_file_id(const uint8_t *buf, size_t len,
		       const uint8_t volume_id[CMK_ID_LEN],
		       uint8_t file_id[CMK_ID_LEN])
{
	if (len < CMK_HEADER_FIXED_LEN ||
	    memcmp(buf + H_MAGIC, header_magic, sizeof(header_magic)) != 0 ||
	    memcmp(buf + H_VOLUME_ID, volume_id, CMK_ID_LEN) != 0)
		return -EBADMSG;
	memcpy(file_id, buf + H_FILE_ID, CMK_ID_LEN);
	return 0;
}

static int pending_decode(const uint8_t *in, struct cmk_pending *p);

int cmk_header_parse(const uint8_t *buf, size_t len,
		     struct cmk_header_info *info, struct cmk_err *err)
{
	memset(info, 0, sizeof(*info));
	info->active = -1;
	if (len < CMK_HEADER_SIZE)
		return cmk_err_set(err, -EBADMSG,
				   "file is shorter than a cmkfs header "
				   "(%zu of %u bytes)",
				   len, CMK_HEADER_SIZE);
	if (memcmp(buf + H_MAGIC, header_magic, sizeof(header_magic)) != 0)
		return cmk_err_set(err, -EBADMSG,
				   "not a cmkfs file (foreign magic)");
	info->format_version = get16(buf + H_VERSION);
	info->suite = get16(buf + H_SUITE);
	info->unit_size = get32(buf + H_UNIT);
	info->header_size = get32(buf + H_HDRSIZE);
	memcpy(info->volume_id, buf + H_VOLUME_ID, CMK_ID_LEN);
	memcpy(info->file_id, buf + H_FILE_ID, CMK_ID_LEN);
	if (info->format_version != CMK_FORMAT_VERSION)
		return cmk_err_set(err, -EPROTONOSUPPORT,
				   "unsupported header format version %u",
				   info->format_version);
	if (info->suite != CMK_SUITE_XTS_GCM)
		return cmk_err_set(err, -EBADMSG,
				   "unknown cipher suite %u in header",
				   info->suite);
	if (info->unit_size != CMK_UNIT_SIZE ||
	    info->header_size != CMK_HEADER_SIZE)
		return cmk_err_set(err, -EBADMSG,
				   "unsupported unit size %u or header size %u",
				   info->unit_size, info->header_size);
	if (!all_zero(buf + H_RESERVED1, H_VOLUME_ID - H_RESERVED1))
		return cmk_err_set(err, -EBADMSG,
				   "header bytes %u-%u are not zero",
				   H_RESERVED1, H_VOLUME_ID - 1);
	if (!all_zero(buf + H_RESERVED2, CMK_PENDING_OFF - H_RESERVED2) ||
	    !all_zero(buf + CMK_PENDING_OFF + CMK_PENDING_SIZE,
		      CMK_TINY_AREA_OFF - CMK_PENDING_OFF - CMK_PENDING_SIZE))
		return cmk_err_set(err, -EBADMSG,
				   "header bytes %u-%u are not zero",
				   H_RESERVED2, CMK_TINY_AREA_OFF - 1);
	if (!all_zero(buf + CMK_PENDING_OFF, CMK_PENDING_SIZE)) {
		if (pending_decode(buf + CMK_PENDING_OFF, &info->pending) == 0)
			info->has_pending = true;
		else
			info->pending_damaged = true;
	}
	info->active = parse_slots(buf + CMK_SLOT_OFF(0), info->slots);
	if (info->active < 0)
		return cmk_err_set(err, -EBADMSG,
				   "no valid key slot (slot 0: %s; slot 1: %s)",
				   slot_problem(&info->slots[0]),
				   slot_problem(&info->slots[1]));
	return 0;
}

/* The pending-truncate record: magic "CMKFSTRN", new size (8), backing
 * offset (8), length (1), 7 zero bytes, 32 bytes of ciphertext (the rest
 * after length zero), SHA-256 of the 64 bytes before it. */
#define P_MAGIC "CMKFSTRN"
#define P_SIZE 8
#define P_OFF 16
#define P_LEN 24
#define P_BYTES 32
#define P_SUM 64

void cmk_pending_encode(const struct cmk_pending *p,
			uint8_t out[CMK_PENDING_SIZE])
{
	memset(out, 0, CMK_PENDING_SIZE);
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): 8 bytes of magic, no NUL */
	memcpy(out, P_MAGIC, 8);
	put64(out + P_SIZE, p->new_size);
	put64(out + P_OFF, p->off);
	out[P_LEN] = p->len;
	memcpy(out + P_BYTES, p->bytes, p->len);
	cmk_sha256(out, P_SUM, out + P_SUM);
}

static int pending_decode(const uint8_t *in, struct cmk_pending *p)
{
	uint8_t sum[CMK_SHA256_LEN];

	cmk_sha256(in, P_SUM, sum);
	if (memcmp(in, P_MAGIC, 8) != 0 || memcmp(sum, in + P_SUM, 32) != 0 ||
	    in[P_LEN] == 0 || in[P_LEN] > CMK_PENDING_MAX ||
	    !all_zero(in + P_LEN + 1, P_BYTES - P_LEN - 1) ||
	    !all_zero(in + P_BYTES + in[P_LEN], CMK_PENDING_MAX - in[P_LEN]))
		return -EBADMSG;
	p->new_size = get64(in + P_SIZE);
	p->off = get64(in + P_OFF);
	p->len = in[P_LEN];
	memcpy(p->bytes, in + P_BYTES, p->len);
	/* off + len is not computed: a crafted offset near 2^64 would wrap
	 * around and pass. */
	if (p->new_size > CMK_PLAIN_MAX || p->off < CMK_TINY_AREA_OFF ||
	    p->off > cmk_backing_len(p->new_size) ||
	    p->len > cmk_backing_len(p->new_size) - p->off)
		return -EBADMSG;
	return 0;
}

void cmk_header_init(uint8_t hdr[CMK_HEADER_SIZE],
		     const uint8_t volume_id[CMK_ID_LEN],
		     const uint8_t file_id[CMK_ID_LEN])
{
	memset(hdr, 0, CMK_HEADER_SIZE);
	memcpy(hdr + H_MAGIC, header_magic, sizeof(header_magic));
	put16(hdr + H_VERSION, CMK_FORMAT_VERSION);
	put16(hdr + H_SUITE, CMK_SUITE_XTS_GCM);
	put32(hdr + H_UNIT, CMK_UNIT_SIZE);
	put32(hdr + H_HDRSIZE, CMK_HEADER_SIZE);
	memcpy(hdr + H_VOLUME_ID, volume_id, CMK_ID_LEN);
	memcpy(hdr + H_FILE_ID, file_id, CMK_ID_LEN);
}

int cmk_header_seal_slot(uint8_t hdr[CMK_HEADER_SIZE], int slot, uint64_t seq,
			 const char *cmk_version,
			 const uint8_t cmk[CMK_KEY_LEN],
			 const uint8_t dek[CMK_KEY_LEN], const uint8_t *nonce)
{
	struct slot_owner o;

	if (slot < 0 || slot >= CMK_SLOT_COUNT)
		return -EINVAL;
	header_owner(hdr, &o);
	return seal_slot(&o, hdr + CMK_SLOT_OFF(slot), seq, cmk_version, cmk,
			 dek, nonce);
}

int cmk_header_open_slot(const uint8_t hdr[CMK_HEADER_SIZE], int slot,
			 const uint8_t cmk[CMK_KEY_LEN],
			 uint8_t dek[CMK_KEY_LEN])
{
	struct slot_owner o;

	if (slot < 0 || slot >= CMK_SLOT_COUNT)
		return -EINVAL;
	header_owner(hdr, &o);
	return open_slot(&o, hdr + CMK_SLOT_OFF(slot), cmk, dek);
}

int cmk_header_next_slot(const struct cmk_header_info *info, int *slot,
			 uint64_t *seq)
{
	return next_slot(info->slots, info->active, slot, seq);
}

int cmk_xts_for_file(const uint8_t dek[CMK_KEY_LEN],
		     const uint8_t file_id[CMK_ID_LEN], struct cmk_xts **out)
{
	uint8_t *key = cmk_secure_alloc(CMK_XTS_KEY_LEN);
	int ret;

	if (!key)
		return -ENOMEM;
	ret = cmk_hkdf_sha256(dek, CMK_KEY_LEN, file_id, CMK_ID_LEN, info_xts,
			      key, CMK_XTS_KEY_LEN);
	if (ret == 0)
		ret = cmk_xts_new(key, out);
	cmk_secure_free(key, CMK_XTS_KEY_LEN);
	return ret;
}

/* --- volume descriptor -------------------------------------------------- */
static bool name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > CMK_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	return true;
}

void cmk_volume_info_new(struct cmk_volume_info *vi, const char *cmk_name,
			 const char *mac_version)
{
	memset(vi, 0, sizeof(*vi));
	vi->format_version = CMK_FORMAT_VERSION;
	vi->suite = CMK_SUITE_XTS_GCM;
	vi->unit_size = CMK_UNIT_SIZE;
	vi->header_size = CMK_HEADER_SIZE;
	cmk_random(vi->volume_id, CMK_ID_LEN);
	snprintf(vi->cmk_name, sizeof(vi->cmk_name), "%s", cmk_name);
	snprintf(vi->mac_version, sizeof(vi->mac_version), "%s", mac_version);
	vi->name_active = -1;
}

static int volume_mac(const uint8_t *buf, const uint8_t cmk[CMK_KEY_LEN],
		      uint8_t mac[CMK_SHA256_LEN])
{
	uint8_t *mac_key = cmk_secure_alloc(CMK_KEY_LEN);
	int ret;

	if (!mac_key)
		return -ENOMEM;
	ret = cmk_hkdf_sha256(cmk, CMK_KEY_LEN, buf + V_VOLUME_ID, CMK_ID_LEN,
			      info_volume_mac, mac_key, CMK_KEY_LEN);
	if (ret == 0)
		ret = cmk_hmac_sha256(mac_key, CMK_KEY_LEN, buf, V_MAC, mac);
	cmk_secure_free(mac_key, CMK_KEY_LEN);
	return ret;
}

/* s is already checked to fit the field; strnlen keeps the copy bounded
 * even if it were not. */
static void put_string(uint8_t *len_byte, uint8_t *field, size_t field_size,
		       const char *s)
{
	size_t len = strnlen(s, field_size);

	*len_byte = (uint8_t)len;
	memcpy(field, s, len);
}

static int envelopes_encode(uint8_t *buf, const struct cmk_volume_info *vi)
{
	const struct cmk_envelope *mac_env = NULL;

	for (int i = 0; i < CMK_ENVELOPE_COUNT; i++) {
		const struct cmk_envelope *e = &vi->envelopes[i];
		uint8_t *r = buf + CMK_ENVELOPE_OFF(i);

		if (!e->used)
			continue;
		if (!cmk_version_id_valid(e->vk_id) ||
		    !cmk_version_id_valid(e->cmk_version) || !e->alg[0] ||
		    strnlen(e->alg, sizeof(e->alg)) > CMK_ENVELOPE_ALG_MAX ||
		    e->blob_len == 0 || e->blob_len > CMK_ENVELOPE_BLOB_MAX)
			return -EINVAL;
		if (strcmp(e->vk_id, vi->mac_version) == 0)
			mac_env = e;
		r[E_USED] = 1;
		put_string(r + E_VKID_LEN, r + E_VKID, CMK_VERSION_MAX,
			   e->vk_id);
		put_string(r + E_VER_LEN, r + E_VER, CMK_VERSION_MAX,
			   e->cmk_version);
		put_string(r + E_ALG_LEN, r + E_ALG, CMK_ENVELOPE_ALG_MAX,
			   e->alg);
		if (e->link_from[0]) {
			if (!cmk_version_id_valid(e->link_from))
				return -EINVAL;
			put_string(r + E_LINK_FROM_LEN, r + E_LINK_FROM,
				   CMK_VERSION_MAX, e->link_from);
			memcpy(r + E_LINK, e->link, CMK_SHA256_LEN);
		}
		put16(r + E_BLOB_LEN, e->blob_len);
		memcpy(r + E_BLOB, e->blob, e->blob_len);
	}
	if (!mac_env ||
	    (vi->envelopes[0].used && vi->envelopes[1].used &&
	     strcmp(vi->envelopes[0].vk_id, vi->envelopes[1].vk_id) == 0))
		return -EINVAL;
	return 0;
}

/* Envelope records: each unused one all zero, each used one well formed
 * with zeroes after its strings and blob; the MAC's volume key among
 * them; no id twice. */
static int envelopes_parse(const uint8_t *buf, struct cmk_volume_info *vi,
			   struct cmk_err *err)
{
	bool mac_found = false;

	for (int i = 0; i < CMK_ENVELOPE_COUNT; i++) {
		const uint8_t *r = buf + CMK_ENVELOPE_OFF(i);
		struct cmk_envelope *e = &vi->envelopes[i];
		size_t alg_len = r[E_ALG_LEN];

		memset(e, 0, sizeof(*e));
		if (r[E_USED] == 0) {
			if (!all_zero(r, CMK_ENVELOPE_SIZE))
				goto bad;
			continue;
		}
		e->used = true;
		e->blob_len = get16(r + E_BLOB_LEN);
		if (r[E_USED] != 1 ||
		    !get_string(r + E_VKID_LEN, r + E_VKID, CMK_VERSION_MAX,
				e->vk_id) ||
		    !cmk_version_id_valid(e->vk_id) ||
		    !get_string(r + E_VER_LEN, r + E_VER, CMK_VERSION_MAX,
				e->cmk_version) ||
		    !cmk_version_id_valid(e->cmk_version) ||
		    !get_string(r + E_ALG_LEN, r + E_ALG, CMK_ENVELOPE_ALG_MAX,
				e->alg) ||
		    alg_len == 0 || strlen(e->alg) != alg_len ||
		    e->blob_len == 0 || e->blob_len > CMK_ENVELOPE_BLOB_MAX ||
		    !all_zero(r + E_BLOB + e->blob_len,
			      CMK_ENVELOPE_SIZE - E_BLOB - e->blob_len))
			goto bad;
		for (size_t k = 0; k < alg_len; k++)
			if (e->alg[k] < 0x21 || e->alg[k] > 0x7e)
				goto bad;
		if (r[E_LINK_FROM_LEN] == 0) {
			if (!all_zero(r + E_LINK_FROM,
				      E_BLOB_LEN - E_LINK_FROM))
				goto bad;
		} else if (!get_string(r + E_LINK_FROM_LEN, r + E_LINK_FROM,
				       CMK_VERSION_MAX, e->link_from) ||
			   !cmk_version_id_valid(e->link_from)) {
			goto bad;
		} else {
			memcpy(e->link, r + E_LINK, CMK_SHA256_LEN);
		}
		memcpy(e->blob, r + E_BLOB, e->blob_len);
		if (i == 1 && vi->envelopes[0].used &&
		    strcmp(vi->envelopes[0].vk_id, e->vk_id) == 0)
			goto bad;
		if (strcmp(e->vk_id, vi->mac_version) == 0)
			mac_found = true;
	}
	if (mac_found)
		return 0;
	return cmk_err_set(err, -EBADMSG,
			   "volume descriptor has no wrapped volume key %s",
			   vi->mac_version);
bad:
	return cmk_err_set(err, -EBADMSG,
			   "volume descriptor has a malformed wrapped "
			   "volume key");
}

int cmk_envelope_link(const uint8_t old_key[CMK_KEY_LEN], const char *vk_id,
		      const uint8_t new_key[CMK_KEY_LEN],
		      uint8_t link[CMK_SHA256_LEN])
{
	static const char label[] = "cmkfs v1 volume key link";
	uint8_t msg[sizeof(label) - 1 + CMK_VERSION_MAX + CMK_SHA256_LEN];
	size_t id_len = strnlen(vk_id, CMK_VERSION_MAX + 1), n = 0;
	int ret;

	if (id_len > CMK_VERSION_MAX)
		return -EINVAL;
	memcpy(msg, label, sizeof(label) - 1);
	n += sizeof(label) - 1;
	memcpy(msg + n, vk_id, id_len);
	n += id_len;
	ret = cmk_sha256(new_key, CMK_KEY_LEN, msg + n);
	if (ret == 0)
		ret = cmk_hmac_sha256(old_key, CMK_KEY_LEN, msg,
				      n + CMK_SHA256_LEN, link);
	cmk_cleanse(msg, sizeof(msg));
	return ret;
}

const struct cmk_envelope *cmk_volume_envelope(const struct cmk_volume_info *vi,
					       const char *vk_id)
{
	for (int i = 0; i < CMK_ENVELOPE_COUNT; i++)
		if (vi->envelopes[i].used &&
		    strcmp(vi->envelopes[i].vk_id, vk_id) == 0)
			return &vi->envelopes[i];
	return NULL;
}

int cmk_volume_encode_fields(uint8_t buf[CMK_VOLUME_SIZE],
			     const struct cmk_volume_info *vi)
{
	size_t name_len = strlen(vi->cmk_name);
	size_t ver_len = strlen(vi->mac_version);

	if (!name_valid(vi->cmk_name) ||
	    !cmk_version_id_valid(vi->mac_version) ||
	    (vi->flags & ~CMK_VOLUME_FLAGS_KNOWN))
		return -EINVAL;
	/* Everything but the slots is rewritten; the slots survive only
	 * where the flags say they exist, so a descriptor without encrypted
	 * names never carries stale slot bytes. */
	memset(buf, 0, V_SLOTS);
	if (!(vi->flags & CMK_VOLUME_FLAG_ENC_NAMES))
		memset(buf + V_SLOTS, 0, V_SLOTS_END - V_SLOTS);
	memset(buf + V_SLOTS_END, 0, CMK_VOLUME_SIZE - V_SLOTS_END);
	memcpy(buf + V_MAGIC, volume_magic, sizeof(volume_magic));
	put16(buf + V_VERSION, vi->format_version);
	put16(buf + V_SUITE, vi->suite);
	put32(buf + V_UNIT, vi->unit_size);
	put32(buf + V_HDRSIZE, vi->header_size);
	put32(buf + V_FLAGS, vi->flags);
	memcpy(buf + V_VOLUME_ID, vi->volume_id, CMK_ID_LEN);
	buf[V_NAME_LEN] = (uint8_t)name_len;
	memcpy(buf + V_NAME, vi->cmk_name, name_len);
	buf[V_MACVER_LEN] = (uint8_t)ver_len;
	memcpy(buf + V_MACVER, vi->mac_version, ver_len);
	if (vi->flags & CMK_VOLUME_FLAG_ENVELOPE)
		return envelopes_encode(buf, vi);
	return 0;
}

int cmk_volume_seal_name_slot(uint8_t buf[CMK_VOLUME_SIZE], int slot,
			      uint64_t seq, const char *cmk_version,
			      const uint8_t cmk[CMK_KEY_LEN],
			      const uint8_t name_key[CMK_KEY_LEN],
			      const uint8_t *nonce)
{
	struct slot_owner o;

	/* The slot's AAD is the fixed part: it must be final already, and
	 * a slot in a descriptor without the flag would make it unreadable. */
	if (slot < 0 || slot >= CMK_SLOT_COUNT ||
	    memcmp(buf + V_MAGIC, volume_magic, sizeof(volume_magic)) != 0 ||
	    !(get32(buf + V_FLAGS) & CMK_VOLUME_FLAG_ENC_NAMES))
		return -EINVAL;
	volume_owner(buf, &o);
	return seal_slot(&o, buf + CMK_VSLOT_OFF(slot), seq, cmk_version, cmk,
			 name_key, nonce);
}

int cmk_volume_open_name_slot(const uint8_t buf[CMK_VOLUME_SIZE], int slot,
			      const uint8_t cmk[CMK_KEY_LEN],
			      uint8_t name_key[CMK_KEY_LEN])
{
	struct slot_owner o;

	if (slot < 0 || slot >= CMK_SLOT_COUNT)
		return -EINVAL;
	volume_owner(buf, &o);
	return open_slot(&o, buf + CMK_VSLOT_OFF(slot), cmk, name_key);
}

int cmk_volume_next_name_slot(const struct cmk_volume_info *vi, int *slot,
			      uint64_t *seq)
{
	return next_slot(vi->name_slots, vi->name_active, slot, seq);
}

int cmk_volume_mac(uint8_t buf[CMK_VOLUME_SIZE], const uint8_t cmk[CMK_KEY_LEN])
{
	struct cmk_volume_info vi;

	if (cmk_volume_parse(buf, CMK_VOLUME_SIZE, &vi, NULL) != 0)
		return -EINVAL;
	return volume_mac(buf, cmk, buf + V_MAC);
}

int cmk_volume_encode(uint8_t buf[CMK_VOLUME_SIZE],
		      const struct cmk_volume_info *vi,
		      const uint8_t cmk[CMK_KEY_LEN])
{
	int ret = cmk_volume_encode_fields(buf, vi);

	if (ret)
		return ret;
	return cmk_volume_mac(buf, cmk);
}

int cmk_volume_create(uint8_t buf[CMK_VOLUME_SIZE],
		      const struct cmk_volume_info *vi,
		      const uint8_t cmk[CMK_KEY_LEN], const uint8_t *name_key)
{
	bool names = vi->flags & CMK_VOLUME_FLAG_ENC_NAMES;
	int ret;

	if (names && !name_key)
		return -EINVAL;
	memset(buf, 0, CMK_VOLUME_SIZE);
	ret = cmk_volume_encode_fields(buf, vi);
	if (ret == 0 && names)
		ret = cmk_volume_seal_name_slot(buf, 0, 1, vi->mac_version, cmk,
						name_key, NULL);
	if (ret == 0)
		ret = cmk_volume_mac(buf, cmk);
	return ret;
}

int cmk_volume_parse(const uint8_t *buf, size_t len, struct cmk_volume_info *vi,
		     struct cmk_err *err)
{
	memset(vi, 0, sizeof(*vi));
	vi->name_active = -1;
	if (len != CMK_VOLUME_SIZE)
		return cmk_err_set(err, -EBADMSG,
				   "volume descriptor has %zu bytes, not %u",
				   len, CMK_VOLUME_SIZE);
	if (memcmp(buf + V_MAGIC, volume_magic, sizeof(volume_magic)) != 0)
		return cmk_err_set(err, -EBADMSG,
				   "not a cmkfs volume descriptor (foreign "
				   "magic)");
	vi->format_version = get16(buf + V_VERSION);
	vi->suite = get16(buf + V_SUITE);
	vi->unit_size = get32(buf + V_UNIT);
	vi->header_size = get32(buf + V_HDRSIZE);
	vi->flags = get32(buf + V_FLAGS);
	memcpy(vi->volume_id, buf + V_VOLUME_ID, CMK_ID_LEN);
	if (vi->format_version != CMK_FORMAT_VERSION)
		return cmk_err_set(err, -EPROTONOSUPPORT,
				   "unsupported volume format version %u",
				   vi->format_version);
	if (vi->suite != CMK_SUITE_XTS_GCM || vi->unit_size != CMK_UNIT_SIZE ||
	    vi->header_size != CMK_HEADER_SIZE)
		return cmk_err_set(err, -EBADMSG,
				   "unsupported cipher suite %u, unit size %u "
				   "or header size %u",
				   vi->suite, vi->unit_size, vi->header_size);
	if (vi->flags & ~CMK_VOLUME_FLAGS_KNOWN)
		return cmk_err_set(err, -EPROTONOSUPPORT,
				   "volume uses features this cmkfs does not "
				   "know (flags 0x%x)",
				   vi->flags);
	if (!all_zero(buf + V_RESERVED1, V_VOLUME_ID - V_RESERVED1) ||
	    !all_zero(buf + V_RESERVED2, V_SLOTS - V_RESERVED2) ||
	    !all_zero(buf + V_RESERVED3, V_ENVELOPES - V_RESERVED3) ||
	    !all_zero(buf + V_ENVELOPES_END, V_MAC - V_ENVELOPES_END) ||
	    (!(vi->flags & CMK_VOLUME_FLAG_ENVELOPE) &&
	     !all_zero(buf + V_ENVELOPES, V_ENVELOPES_END - V_ENVELOPES)) ||
	    (!(vi->flags & CMK_VOLUME_FLAG_ENC_NAMES) &&
	     !all_zero(buf + V_SLOTS, V_SLOTS_END - V_SLOTS)))
		return cmk_err_set(err, -EBADMSG,
				   "volume descriptor has non-zero reserved "
				   "bytes");
	if (!get_string(buf + V_NAME_LEN, buf + V_NAME, CMK_NAME_MAX,
			vi->cmk_name) ||
	    !name_valid(vi->cmk_name))
		return cmk_err_set(
			err, -EBADMSG,
			"volume descriptor has a malformed key name");
	if (!get_string(buf + V_MACVER_LEN, buf + V_MACVER, CMK_VERSION_MAX,
			vi->mac_version) ||
	    !cmk_version_id_valid(vi->mac_version))
		return cmk_err_set(err, -EBADMSG,
				   "volume descriptor has a malformed key "
				   "version");
	if (vi->flags & CMK_VOLUME_FLAG_ENVELOPE) {
		int ret = envelopes_parse(buf, vi, err);

		if (ret)
			return ret;
	}
	if (vi->flags & CMK_VOLUME_FLAG_ENC_NAMES) {
		vi->name_active = parse_slots(buf + V_SLOTS, vi->name_slots);
		if (vi->name_active < 0)
			return cmk_err_set(err, -EBADMSG,
					   "volume descriptor has no valid "
					   "name-key slot (slot 0: %s; slot 1: "
					   "%s)",
					   slot_problem(&vi->name_slots[0]),
					   slot_problem(&vi->name_slots[1]));
	}
	return 0;
}

int cmk_volume_verify(const uint8_t buf[CMK_VOLUME_SIZE],
		      const uint8_t cmk[CMK_KEY_LEN])
{
	uint8_t mac[CMK_SHA256_LEN];
	int ret = volume_mac(buf, cmk, mac);

	if (ret)
		return ret;
	return cmk_memeq_ct(mac, buf + V_MAC, CMK_SHA256_LEN) ? 0
							      : -EKEYREJECTED;
}
