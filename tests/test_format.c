/* SPDX-License-Identifier: MIT */
/* Headers, key slots and the volume descriptor; and the test vectors of
 * docs/FORMAT.md, regenerated from the code and compared with the document.
 * `test_format --print-vectors` prints the vectors section. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "crypto/filedata.h"
#include "crypto/format.h"
#include "crypto/keyring.h"

static uint8_t cmk[32], cmk2[32], volume_id[16], file_id[16], dek[32],
	nonce[12];

static void fixed_inputs(void)
{
	for (int i = 0; i < 32; i++) {
		cmk[i] = (uint8_t)i;
		cmk2[i] = (uint8_t)(0x80 + i);
		dek[i] = (uint8_t)(0x40 + i);
	}
	for (int i = 0; i < 16; i++) {
		volume_id[i] = (uint8_t)(0xa0 + i);
		file_id[i] = (uint8_t)(0xb0 + i);
	}
	for (int i = 0; i < 12; i++)
		nonce[i] = (uint8_t)(0xc0 + i);
}

static void fixed_header(uint8_t *hdr)
{
	cmk_header_init(hdr, volume_id, file_id);
	if (cmk_header_seal_slot(hdr, 0, 1, "1", cmk, dek, nonce) != 0)
		abort();
}

/* A new descriptor's fields (cmk_volume_info_new()) with the fixed volume
 * id. */
static void fixed_volume_info(struct cmk_volume_info *vi, const char *name,
			      const char *mac_version)
{
	cmk_volume_info_new(vi, name, mac_version);
	memcpy(vi->volume_id, volume_id, 16);
}

/* --- vectors ------------------------------------------------------------ */
static void hex_line(FILE *out, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(out, "%02x%s", p[i],
			(i % 32 == 31 && i + 1 < len) ? "\n" : "");
	fputc('\n', out);
}

static void print_unit(FILE *out, const char *which, const uint8_t *file,
		       uint64_t size, uint64_t index)
{
	struct cmk_unit unit;
	uint8_t sum[32];

	cmk_unit_get(size, index, &unit);
	fprintf(out,
		"%s unit: index %llu, backing bytes %llu-%llu (%u bytes)%s\n",
		which, (unsigned long long)unit.index,
		(unsigned long long)unit.backing_off,
		(unsigned long long)(unit.backing_off + unit.backing_len - 1),
		unit.backing_len, unit.tiny ? ", tiny" : "");
	if (unit.backing_len <= 64) {
		hex_line(out, file + unit.backing_off, unit.backing_len);
	} else {
		fprintf(out, "first 32 bytes: ");
		hex_line(out, file + unit.backing_off, 32);
		fprintf(out, "last 32 bytes:  ");
		hex_line(out, file + unit.backing_off + unit.backing_len - 32,
			 32);
		cmk_sha256(file + unit.backing_off, unit.backing_len, sum);
		fprintf(out, "SHA-256:        ");
		hex_line(out, sum, 32);
	}
}

/* An envelope volume whose volume key vk1 (the CMK bytes above) was
 * replaced by vk2 (cmk2); the wrapped keys are placeholders, as a key
 * service's ciphertext cannot be checked offline. */
static void print_envelope_vectors(FILE *out)
{
	static const char *const blobs[] = { "vault:v1:cGxhY2Vob2xkZXIx",
					     "vault:v2:cGxhY2Vob2xkZXIy" };
	uint8_t vol[CMK_VOLUME_SIZE], link[32], mac_key[32];
	struct cmk_volume_info vi;

	fixed_volume_info(&vi, "https://vault.example:8200/v1/transit/keys/cmk",
			  "vk2");
	vi.flags = CMK_VOLUME_FLAG_ENVELOPE;
	for (int i = 0; i < 2; i++) {
		struct cmk_envelope *e = &vi.envelopes[i];

		e->used = true;
		snprintf(e->vk_id, sizeof(e->vk_id), "vk%d", i + 1);
		snprintf(e->cmk_version, sizeof(e->cmk_version), "%d", i + 1);
		strcpy(e->alg, "vault-transit");
		e->blob_len = (uint16_t)strlen(blobs[i]);
		memcpy(e->blob, blobs[i], e->blob_len);
	}
	strcpy(vi.envelopes[1].link_from, "vk1");
	if (cmk_envelope_link(cmk, "vk2", cmk2, link) != 0)
		abort();
	memcpy(vi.envelopes[1].link, link, 32);
	if (cmk_volume_encode(vol, &vi, cmk2) != 0)
		abort();
	cmk_hkdf_sha256(cmk2, 32, volume_id, 16, "cmkfs v1 volume mac", mac_key,
			32);
	fprintf(out, "\nenvelope volume (flag bit 1): volume key vk1 = the CMK "
		     "bytes above, volume key vk2:\n");
	hex_line(out, cmk2, 32);
	fprintf(out, "link of vk2 from vk1 = HMAC-SHA256(vk1, \"cmkfs v1 "
		     "volume key link\" || \"vk2\" || SHA-256(vk2)):\n");
	hex_line(out, link, 32);
	fprintf(out, "volume MAC key = HKDF(vk2, volume id, \"cmkfs v1 volume "
		     "mac\"):\n");
	hex_line(out, mac_key, 32);
	fprintf(out, "descriptor (MAC version \"vk2\"), bytes 0-369:\n");
	hex_line(out, vol, 370);
	for (int i = 0; i < 2; i++) {
		size_t off = 1024 + (size_t)i * 1280;
		size_t len = 254 + vi.envelopes[i].blob_len;

		fprintf(out, "envelope record %d, bytes %zu-%zu (then zero):\n",
			i, off, off + len - 1);
		hex_line(out, vol + off, len);
	}
	fprintf(out, "MAC (bytes 4064-4095): ");
	hex_line(out, vol + CMK_VOLUME_SIZE - 32, 32);
}

static void print_vectors(FILE *out, const char *dir)
{
	static const uint64_t lengths[] = { 0,	  1,	15,   16,   17,	 4095,
					    4096, 4097, 4111, 4112, 8205 };
	uint8_t hdr[CMK_HEADER_SIZE], derived[64], vol[CMK_VOLUME_SIZE];
	struct cmk_volume_info vi;
	char path[300];

	fixed_header(hdr);
	fprintf(out, "```\n");
	fprintf(out, "CMK (version \"1\"): ");
	hex_line(out, cmk, 32);
	fprintf(out, "volume id: ");
	hex_line(out, volume_id, 16);
	fprintf(out, "file id:   ");
	hex_line(out, file_id, 16);
	fprintf(out, "DEK:       ");
	hex_line(out, dek, 32);
	fprintf(out, "slot 0 nonce: ");
	hex_line(out, nonce, 12);
	cmk_hkdf_sha256(cmk, 32, file_id, 16, "cmkfs v1 dek wrap", derived, 32);
	fprintf(out,
		"wrapping key = HKDF(CMK, file id, \"cmkfs v1 dek wrap\"):\n");
	hex_line(out, derived, 32);
	cmk_hkdf_sha256(dek, 32, file_id, 16, "cmkfs v1 xts key", derived, 64);
	fprintf(out, "XTS key = HKDF(DEK, file id, \"cmkfs v1 xts key\"):\n");
	hex_line(out, derived, 64);
	fprintf(out, "\nheader bytes 0-575 (bytes 576-4079 are zero; 4080-4095 "
		     "as below):\n");
	hex_line(out, hdr, 576);

	/* The volume descriptor for the same CMK and volume id. */
	fixed_volume_info(&vi, "cmk", "1");
	cmk_volume_encode(vol, &vi, cmk);
	fprintf(out,
		"\nvolume descriptor (key name \"cmk\", MAC version \"1\"), "
		"bytes 0-369 (then zero up to the MAC):\n");
	hex_line(out, vol, 370);
	fprintf(out, "MAC (bytes 4064-4095): ");
	hex_line(out, vol + CMK_VOLUME_SIZE - 32, 32);

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		uint64_t size = lengths[i];
		uint8_t *plain = malloc(size + 1), *file;
		struct cmk_xts *xts;
		uint8_t sum[32];
		int fd;

		for (uint64_t b = 0; b < size; b++)
			plain[b] = (uint8_t)(b % 251);
		snprintf(path, sizeof(path), "%s/vector", dir);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || pwrite(fd, hdr, sizeof(hdr), 0) != sizeof(hdr) ||
		    cmk_xts_for_file(dek, file_id, &xts) != 0 ||
		    cmk_data_write(fd, xts, plain, size, 0) < 0)
			abort();
		file = malloc(CMK_HEADER_SIZE + size);
		if (pread(fd, file, CMK_HEADER_SIZE + size, 0) !=
		    (ssize_t)(CMK_HEADER_SIZE + size))
			abort();
		fprintf(out,
			"\nplaintext length %llu: backing file %llu bytes\n",
			(unsigned long long)size,
			(unsigned long long)(CMK_HEADER_SIZE + size));
		if (size) {
			print_unit(out, "first", file, size, 0);
			if (cmk_unit_count(size) > 1)
				print_unit(out, "last", file, size,
					   cmk_unit_count(size) - 1);
		}
		cmk_sha256(file, CMK_HEADER_SIZE + size, sum);
		fprintf(out, "SHA-256 of the backing file: ");
		hex_line(out, sum, 32);
		cmk_xts_free(xts);
		close(fd);
		unlink(path);
		free(file);
		free(plain);
	}
	print_envelope_vectors(out);
	fprintf(out, "```\n");
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;

	*len = 0;
	if (f) {
		buf = malloc(1 << 20);
		*len = fread(buf, 1, (1 << 20) - 1, f);
		buf[*len] = '\0';
		fclose(f);
	}
	return buf;
}

static void vectors_match_document(const char *dir)
{
	const char *src = getenv("CMKFS_SOURCE_DIR");
	char path[4096], *doc, *begin, *end, *mine;
	size_t doc_len, mine_len;
	FILE *out;

	snprintf(path, sizeof(path), "%s/docs/FORMAT.md", src ? src : ".");
	doc = read_all(path, &doc_len);
	CHECK(doc != NULL);
	if (!doc)
		return;
	begin = strstr(doc, "<!-- vectors:begin -->\n");
	end = strstr(doc, "<!-- vectors:end -->");
	CHECK(begin && end && begin < end);
	if (!begin || !end || begin > end) {
		free(doc);
		return;
	}
	begin += strlen("<!-- vectors:begin -->\n");
	*end = '\0';
	out = open_memstream(&mine, &mine_len);
	print_vectors(out, dir);
	fclose(out);
	CHECK(strcmp(begin, mine) == 0);
	if (strcmp(begin, mine) != 0)
		fprintf(stderr,
			"docs/FORMAT.md vectors differ from the code; "
			"regenerate with test_format --print-vectors\n");
	free(mine);
	free(doc);
}

/* --- header behaviour ---------------------------------------------------- */
static void round_trip(void)
{
	uint8_t hdr[CMK_HEADER_SIZE], out[32];
	struct cmk_header_info info;
	struct cmk_err err;

	fixed_header(hdr);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, &err), 0);
	CHECK_EQ_INT(info.format_version, 1);
	CHECK_EQ_INT(info.active, 0);
	CHECK(info.slots[0].state == CMK_SLOT_VALID);
	CHECK(info.slots[1].state == CMK_SLOT_EMPTY);
	CHECK_EQ_INT(info.slots[0].seq, 1);
	CHECK(strcmp(info.slots[0].cmk_version, "1") == 0);
	CHECK(memcmp(info.file_id, file_id, 16) == 0);
	CHECK(memcmp(info.volume_id, volume_id, 16) == 0);
	CHECK_EQ_INT(cmk_header_open_slot(hdr, 0, cmk, out), 0);
	CHECK(memcmp(out, dek, 32) == 0);
	CHECK_EQ_INT(cmk_header_open_slot(hdr, 0, cmk2, out), -EBADMSG);
	/* Long version ids: Azure's 32 hex digits and UUIDs. */
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, 1, 2,
					  "0123456789abcdef0123456789abcdef",
					  cmk, dek, NULL),
		     0);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, &err), 0);
	CHECK_EQ_INT(info.active, 1);
	CHECK_EQ_INT(cmk_header_seal_slot(
			     hdr, 1, 2, "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
			     cmk, dek, NULL),
		     0);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, &err), 0);
	CHECK(strcmp(info.slots[1].cmk_version,
		     "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d") == 0);
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, 1, 2, "bad/version", cmk, dek,
					  NULL),
		     -EINVAL);
}

/* Changing any single byte of the header (all but the tiny-file data area)
 * is detected: the parse fails, or a slot that was valid no longer is or
 * no longer unwraps, or the pending-truncate record is reported damaged. */
static void every_byte_detected(void)
{
	uint8_t pristine[CMK_HEADER_SIZE], hdr[CMK_HEADER_SIZE], out[32];
	struct cmk_header_info info;
	int undetected = 0;

	fixed_header(pristine);
	/* A second valid slot, so that both slots are exercised. */
	cmk_header_seal_slot(pristine, 1, 2, "2", cmk2, dek, NULL);
	for (size_t pos = 0; pos < CMK_TINY_AREA_OFF; pos++) {
		for (int bit = 0; bit < 8; bit += 7) {
			bool detected = false;

			memcpy(hdr, pristine, sizeof(hdr));
			hdr[pos] ^= (uint8_t)(1 << bit);
			if (cmk_header_parse(hdr, sizeof(hdr), &info, NULL) !=
			    0)
				/* NOLINTNEXTLINE(bugprone-branch-clone): several reasons, one outcome */
				detected = true;
			else if (info.slots[0].state != CMK_SLOT_VALID ||
				 info.slots[1].state != CMK_SLOT_VALID)
				detected = true;
			/* The pending-truncate record's bytes: a record
			 * that does not check out is reported, and not
			 * acted on. */
			else if (info.pending_damaged && !info.has_pending)
				detected = true;
			else if (cmk_header_open_slot(hdr, 0, cmk, out) != 0 ||
				 cmk_header_open_slot(hdr, 1, cmk2, out) != 0)
				detected = true;
			if (!detected) {
				undetected++;
				fprintf(stderr, "byte %zu bit %d undetected\n",
					pos, bit);
			}
		}
	}
	CHECK_EQ_INT(undetected, 0);
}

static void slot_choice(void)
{
	uint8_t hdr[CMK_HEADER_SIZE], out[32];
	struct cmk_header_info info;
	struct cmk_keyring *kr;
	struct cmk_err err;
	uint64_t seq;
	int slot, used = -1;

	fixed_header(hdr);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, NULL), 0);
	cmk_header_next_slot(&info, &slot, &seq);
	CHECK_EQ_INT(slot, 1);
	CHECK_EQ_INT(seq, 2);
	/* Re-wrap into slot 1 under version 2: both valid, 2 wins. */
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, slot, seq, "2", cmk2, dek, NULL),
		     0);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, NULL), 0);
	CHECK_EQ_INT(info.active, 1);
	cmk_header_next_slot(&info, &slot, &seq);
	CHECK_EQ_INT(slot, 0);
	CHECK_EQ_INT(seq, 3);
	/* The next re-wrap goes back to slot 0 and wins by sequence. */
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, 0, 3, "3", cmk, dek, NULL), 0);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, NULL), 0);
	CHECK_EQ_INT(info.active, 0);

	/* A torn write of the new slot (half old, half new): the old slot
	 * stays in charge and the file stays readable. */
	uint8_t before[CMK_HEADER_SIZE];
	memcpy(before, hdr, sizeof(hdr));
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, 1, 4, "4", cmk2, dek, NULL), 0);
	memcpy(hdr + CMK_SLOT_OFF(1) + 128, before + CMK_SLOT_OFF(1) + 128,
	       128);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, NULL), 0);
	CHECK(info.slots[1].state == CMK_SLOT_DAMAGED);
	CHECK_EQ_INT(info.active, 0);
	CHECK_EQ_INT(cmk_header_open_slot(hdr, 0, cmk, out), 0);

	/* The keyring opens the active slot only: once re-wrapped to version
	 * 4, version 3 no longer opens the file (revoking 4 revokes it). */
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, 1, 4, "4", cmk2, dek, NULL), 0);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, NULL), 0);
	CHECK_EQ_INT(cmk_keyring_new(&kr), 0);
	CHECK_EQ_INT(cmk_keyring_add(kr, "3", cmk, false), 0);
	CHECK_EQ_INT(cmk_keyring_unwrap(kr, hdr, &info, out, &used, &err),
		     -ENOKEY);
	CHECK_STR_CONTAINS(err.msg, "CMK version 4");
	CHECK_EQ_INT(cmk_keyring_add(kr, "4", cmk2, true), 0);
	CHECK_EQ_INT(cmk_keyring_unwrap(kr, hdr, &info, out, &used, &err), 0);
	CHECK_EQ_INT(used, 1);
	CHECK(memcmp(out, dek, 32) == 0);
	CHECK_EQ_INT(cmk_keyring_remove(kr, "4"), 0);
	CHECK_EQ_INT(cmk_keyring_remove(kr, "3"), 0);
	CHECK_EQ_INT(cmk_keyring_unwrap(kr, hdr, &info, out, &used, &err),
		     -ENOKEY);
	CHECK_STR_CONTAINS(err.msg, "CMK version 4");
	/* A key under the right name but with the wrong bytes. */
	CHECK_EQ_INT(cmk_keyring_add(kr, "4", cmk, true), 0);
	CHECK_EQ_INT(cmk_keyring_unwrap(kr, hdr, &info, out, &used, &err),
		     -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "does not authenticate");
	cmk_keyring_free(kr);

	/* Both slots damaged: a clear error. */
	hdr[CMK_SLOT_OFF(0) + 100] ^= 1;
	hdr[CMK_SLOT_OFF(1) + 100] ^= 1;
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "no valid key slot");
}

static void bad_headers(void)
{
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_header_info info;
	struct cmk_err err;

	fixed_header(hdr);
	CHECK_EQ_INT(cmk_header_parse(hdr, 100, &info, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "shorter than a cmkfs header");
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): a magic, no NUL */
	memcpy(hdr,
	       "\x7f"
	       "ELF",
	       4);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "foreign magic");
	fixed_header(hdr);
	hdr[8] = 2;
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, &err),
		     -EPROTONOSUPPORT);
	fixed_header(hdr);
	hdr[1000] = 1;
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "not zero");
}

/* A pending-truncate record must name bytes inside the file of its new
 * size; an offset near 2^64, where offset + length wraps around, is
 * damaged, not accepted (found by tests/fuzz/fuzz_header). */
static void pending_bounds(void)
{
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_header_info info;
	struct cmk_pending p = { .new_size = 5000, .len = 32 };
	const uint64_t offs[] = { cmk_backing_len(5000) - 32,
				  cmk_backing_len(5000) - 31, UINT64_MAX - 15,
				  UINT64_MAX };

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		fixed_header(hdr);
		p.off = offs[i];
		cmk_pending_encode(&p, hdr + CMK_PENDING_OFF);
		CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, NULL),
			     0);
		CHECK_EQ_INT(info.has_pending, i == 0);
		CHECK_EQ_INT(info.pending_damaged, i != 0);
	}
}

/* A valid slot with sequence number 2^64 - 1 (only a key holder can make
 * one that opens) leaves no higher number for a re-wrap: refused, where
 * it used to wrap to 0, which reads as a damaged slot (found by
 * tests/fuzz/fuzz_header). */
static void sequence_exhausted(void)
{
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_header_info info;
	uint64_t seq = 0;
	int slot = -1;

	fixed_header(hdr);
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, 1, UINT64_MAX, "2", cmk2, dek,
					  NULL),
		     0);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, NULL), 0);
	CHECK_EQ_INT(info.active, 1);
	CHECK_EQ_INT(cmk_header_next_slot(&info, &slot, &seq), -EOVERFLOW);
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, 1, UINT64_MAX - 1, "2", cmk2,
					  dek, NULL),
		     0);
	CHECK_EQ_INT(cmk_header_parse(hdr, sizeof(hdr), &info, NULL), 0);
	CHECK_EQ_INT(cmk_header_next_slot(&info, &slot, &seq), 0);
	CHECK_EQ_INT(slot, 0);
	CHECK(seq == UINT64_MAX);
}

static void volume_descriptor(void)
{
	uint8_t buf[CMK_VOLUME_SIZE];
	struct cmk_volume_info vi, back;
	struct cmk_err err;

	cmk_volume_info_new(&vi, "cmk", "1");
	CHECK_EQ_INT(cmk_volume_encode(buf, &vi, cmk), 0);
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), 0);
	CHECK(strcmp(back.cmk_name, "cmk") == 0);
	CHECK(strcmp(back.mac_version, "1") == 0);
	CHECK(memcmp(back.volume_id, vi.volume_id, 16) == 0);
	CHECK_EQ_INT(cmk_volume_verify(buf, cmk), 0);
	CHECK_EQ_INT(cmk_volume_verify(buf, cmk2), -EKEYREJECTED);
	/* Every byte is covered by the MAC or by a structural check. */
	int undetected = 0;
	for (size_t pos = 0; pos < sizeof(buf); pos++) {
		buf[pos] ^= 0x20;
		if (cmk_volume_parse(buf, sizeof(buf), &back, NULL) == 0 &&
		    cmk_volume_verify(buf, cmk) == 0)
			undetected++;
		buf[pos] ^= 0x20;
	}
	CHECK_EQ_INT(undetected, 0);
	CHECK_EQ_INT(cmk_volume_parse(buf, 100, &back, &err), -EBADMSG);
	buf[0] = 'X';
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "foreign magic");
}

/* --- volume descriptor with encrypted names --------------------------- */
static void names_descriptor(uint8_t *buf, struct cmk_volume_info *vi)
{
	cmk_volume_info_new(vi, "cmk", "1");
	vi->flags = CMK_VOLUME_FLAG_ENC_NAMES;
	if (cmk_volume_create(buf, vi, cmk, dek) != 0)
		abort();
}

static void name_key_slots(void)
{
	uint8_t buf[CMK_VOLUME_SIZE], before[CMK_VOLUME_SIZE], key[32];
	struct cmk_volume_info vi, back;
	struct cmk_err err;
	uint64_t seq;
	int slot;

	/* A new volume: slot 0 under the MAC version, slot 1 empty. */
	names_descriptor(buf, &vi);
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), 0);
	CHECK_EQ_INT(back.flags, CMK_VOLUME_FLAG_ENC_NAMES);
	CHECK_EQ_INT(back.name_active, 0);
	CHECK(back.name_slots[0].state == CMK_SLOT_VALID);
	CHECK(back.name_slots[1].state == CMK_SLOT_EMPTY);
	CHECK_EQ_INT(back.name_slots[0].seq, 1);
	CHECK(strcmp(back.name_slots[0].cmk_version, "1") == 0);
	CHECK_EQ_INT(cmk_volume_verify(buf, cmk), 0);
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 0, cmk, key), 0);
	CHECK(memcmp(key, dek, 32) == 0);
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 0, cmk2, key), -EBADMSG);
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 1, cmk, key), -EBADMSG);
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 2, cmk, key), -EINVAL);
	/* A header's key slot (same CMK, same volume id, same key inside)
	 * copied into the descriptor does not open: other wrapping key,
	 * other associated data. */
	uint8_t hdr[CMK_HEADER_SIZE];
	cmk_header_init(hdr, vi.volume_id, file_id);
	CHECK_EQ_INT(cmk_header_seal_slot(hdr, 0, 1, "1", cmk, dek, NULL), 0);
	memcpy(before, buf, sizeof(buf));
	memcpy(before + CMK_VSLOT_OFF(1), hdr + CMK_SLOT_OFF(0), CMK_SLOT_SIZE);
	CHECK_EQ_INT(cmk_volume_open_name_slot(before, 1, cmk, key), -EBADMSG);
	cmk_volume_next_name_slot(&back, &slot, &seq);
	CHECK_EQ_INT(slot, 1);
	CHECK_EQ_INT(seq, 2);

	/* Rotation to version 2: re-wrap into the inactive slot, new MAC;
	 * the fields are re-encoded over a copy, which keeps the slots. */
	strcpy(vi.mac_version, "2");
	CHECK_EQ_INT(cmk_volume_encode_fields(buf, &vi), 0);
	CHECK_EQ_INT(cmk_volume_seal_name_slot(buf, slot, seq, "2", cmk2, dek,
					       NULL),
		     0);
	CHECK_EQ_INT(cmk_volume_mac(buf, cmk2), 0);
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), 0);
	CHECK_EQ_INT(back.name_active, 1);
	CHECK(back.name_slots[0].state == CMK_SLOT_VALID);
	CHECK(strcmp(back.mac_version, "2") == 0);
	CHECK_EQ_INT(cmk_volume_verify(buf, cmk2), 0);
	CHECK_EQ_INT(cmk_volume_verify(buf, cmk), -EKEYREJECTED);
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 1, cmk2, key), 0);
	CHECK(memcmp(key, dek, 32) == 0);
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 0, cmk, key), 0);
	cmk_volume_next_name_slot(&back, &slot, &seq);
	CHECK_EQ_INT(slot, 0);
	CHECK_EQ_INT(seq, 3);
	/* A re-MAC alone (cmk_volume_encode over the current bytes) keeps
	 * both slots byte for byte. */
	memcpy(before, buf, sizeof(buf));
	CHECK_EQ_INT(cmk_volume_encode(buf, &vi, cmk2), 0);
	CHECK(memcmp(before, buf, sizeof(buf)) == 0);

	/* Every byte is covered by the MAC or a structural check. */
	int undetected = 0;
	for (size_t pos = 0; pos < sizeof(buf); pos++) {
		buf[pos] ^= 0x01;
		if (cmk_volume_parse(buf, sizeof(buf), &back, NULL) == 0 &&
		    cmk_volume_verify(buf, cmk2) == 0)
			undetected++;
		buf[pos] ^= 0x01;
	}
	CHECK_EQ_INT(undetected, 0);
	/* The slots are bound to the fixed part: another volume id (or
	 * flags) and the slot no longer opens, checksum or not. */
	buf[32] ^= 1;
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 1, cmk2, key), -EBADMSG);
	buf[32] ^= 1;

	/* Third rotation, torn: the new slot 0 half written. The old slot
	 * stays active. */
	memcpy(before, buf, sizeof(buf));
	CHECK_EQ_INT(cmk_volume_seal_name_slot(buf, 0, 3, "3", cmk, dek, NULL),
		     0);
	memcpy(buf + CMK_VSLOT_OFF(0) + 128, before + CMK_VSLOT_OFF(0) + 128,
	       128);
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), 0);
	CHECK(back.name_slots[0].state == CMK_SLOT_DAMAGED);
	CHECK_STR_CONTAINS(back.name_slots[0].problem, "checksum");
	CHECK_EQ_INT(back.name_active, 1);
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 1, cmk2, key), 0);
	/* Both damaged: refused, with both reasons. */
	buf[CMK_VSLOT_OFF(1) + 100] ^= 1;
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "no valid name-key slot");
	/* Never MAC'ed in that state. */
	CHECK_EQ_INT(cmk_volume_mac(buf, cmk2), -EINVAL);
}

static void volume_flags(void)
{
	uint8_t buf[CMK_VOLUME_SIZE], key[32];
	struct cmk_volume_info vi, back;
	struct cmk_err err;

	/* Unknown flags: refused to write, refused to read. */
	cmk_volume_info_new(&vi, "cmk", "1");
	vi.flags = 4;
	CHECK_EQ_INT(cmk_volume_encode(buf, &vi, cmk), -EINVAL);
	/* Envelope without a wrapped volume key: refused as well. */
	vi.flags = CMK_VOLUME_FLAG_ENVELOPE;
	CHECK_EQ_INT(cmk_volume_encode(buf, &vi, cmk), -EINVAL);
	vi.flags = 0;
	CHECK_EQ_INT(cmk_volume_encode(buf, &vi, cmk), 0);
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), 0);
	CHECK_EQ_INT(back.name_active, -1);
	CHECK(back.name_slots[0].state == CMK_SLOT_EMPTY);
	buf[20] ^= 2;
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), -EBADMSG);
	buf[20] ^= 2;
	for (int bit = 2; bit < 32; bit++) {
		buf[20 + bit / 8] ^= (uint8_t)(1 << (bit % 8));
		CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err),
			     -EPROTONOSUPPORT);
		buf[20 + bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	CHECK_STR_CONTAINS(err.msg, "flags");
	/* Flags 0: no slots, and none can be sealed. */
	CHECK_EQ_INT(cmk_volume_seal_name_slot(buf, 0, 1, "1", cmk, dek, NULL),
		     -EINVAL);
	buf[CMK_VSLOT_OFF(1) + 255] = 1;
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "reserved");
	/* Encoding with flags 0 clears whatever was in the slot area. */
	CHECK_EQ_INT(cmk_volume_encode(buf, &vi, cmk), 0);
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), 0);
	/* Flags 1 without a slot: refused; and cmk_volume_encode() over a
	 * buffer without slots does not produce such a descriptor. */
	buf[20] = 1;
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, "no valid name-key slot");
	vi.flags = CMK_VOLUME_FLAG_ENC_NAMES;
	memset(buf, 0x5a, sizeof(buf));
	CHECK_EQ_INT(cmk_volume_encode(buf, &vi, cmk), -EINVAL);
	CHECK_EQ_INT(cmk_volume_create(buf, &vi, cmk, NULL), -EINVAL);
	/* Flags 1 and the slots after them, in the other reserved areas: a
	 * slot in the wrong place is not a slot. */
	CHECK_EQ_INT(cmk_volume_create(buf, &vi, cmk, dek), 0);
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), 0);
	buf[400] = 1;
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), -EBADMSG);
	buf[400] = 0;
	buf[2000] = 1;
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), -EBADMSG);
	buf[2000] = 0;
	CHECK_EQ_INT(cmk_volume_open_name_slot(buf, 0, cmk, key), 0);
	/* Clearing the flag (and re-MAC'ing) would orphan the names: the
	 * slots are still there, so such a descriptor does not parse. */
	buf[20] = 0;
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), -EBADMSG);
	CHECK_EQ_INT(cmk_volume_mac(buf, cmk), -EINVAL);

	/* The flags-0 descriptor of the test vectors (an old volume) still
	 * parses and verifies. */
	fixed_volume_info(&vi, "cmk", "1");
	CHECK_EQ_INT(cmk_volume_encode(buf, &vi, cmk), 0);
	CHECK_EQ_INT(cmk_volume_parse(buf, sizeof(buf), &back, &err), 0);
	CHECK_EQ_INT(back.flags, 0);
	CHECK_EQ_INT(back.name_active, -1);
	CHECK_EQ_INT(cmk_volume_verify(buf, cmk), 0);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/cmkfs-format-XXXXXX";
	int ret;

	if (cmk_crypto_init(NULL) < 0 || !mkdtemp(dir))
		return 1;
	fixed_inputs();
	if (argc > 1 && strcmp(argv[1], "--print-vectors") == 0) {
		print_vectors(stdout, dir);
		rmdir(dir);
		return 0;
	}
	round_trip();
	every_byte_detected();
	slot_choice();
	bad_headers();
	pending_bounds();
	sequence_exhausted();
	volume_descriptor();
	name_key_slots();
	volume_flags();
	vectors_match_document(dir);
	ret = check_exit();
	rmdir(dir);
	return ret;
}
