/* SPDX-License-Identifier: MIT */
/* key_scan: where a running cmkfs daemon keeps copies of its keys.
 *
 *   key_scan PID CMK_HEX CIPHERDIR [LABEL=BACKING_FILE | text:LABEL=TEXT ...]
 *
 * From the CMK (the test knows it: it made the local keystore) it derives
 * what the daemon derives, with cmkfs's own format code: the volume's MAC
 * key, its name key (unwrapped from the descriptor) and the AES-SIV keys
 * for names; for each backing file, the slot's wrapping key, the DEK
 * (unwrapped from its header) and the two AES-256-XTS keys; and the CMK's
 * base64 text, as key files and key services hold it; and any secret text
 * given as text:LABEL=TEXT (a passphrase; its first 32 bytes are searched). For
 * every 256-bit AES key it also searches OpenSSL's expanded key schedule (round
 * keys 2-3 and 14, in byte order as AES-NI keeps them and in 32-bit words
 * as the C code does) and HMAC's padded keys (key ^ 0x36, key ^ 0x5c), since
 * contexts hold those rather than the raw key.
 *
 * It reads /proc/PID/smaps and /proc/PID/mem (present pages only, through
 * /proc/PID/pagemap, so that the sanitizer's shadow regions cost nothing)
 * and prints, per key, one line:
 *
 *   key LABEL copies N locked N unlocked N [in REGION ...]
 *
 * where locked means a mapping whose VmFlags hold both lo (mlock'ed) and dd
 * (not dumped). A test helper: it links libcrypto directly for the key
 * schedules, which cmkfs's crypto interface rightly does not expose. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/aes.h>

#include "crypto/crypto.h"
#include "crypto/format.h"

#define MAX_PATTERNS 4096
#define MAX_KEYS 512
#define MAX_HITS 4096

struct pattern {
	uint8_t bytes[32];
	size_t len;
	int key; /* index into keys[] */
};

struct hit {
	uint64_t addr;
	bool locked;
	char region[64];
};

struct key {
	char label[96];
	struct hit hits[MAX_HITS];
	size_t nhits;
};

static struct pattern patterns[MAX_PATTERNS];
static size_t npatterns;
static struct key *keys;
static size_t nkeys;

static void die(const char *what)
{
	fprintf(stderr, "key_scan: %s\n", what);
	exit(2);
}

/* A key labelled a, or a-b. */
static int new_key(const char *a, const char *b)
{
	if (nkeys == MAX_KEYS)
		die("too many keys");
	snprintf(keys[nkeys].label, sizeof(keys[nkeys].label), "%s%s%s", a,
		 b ? "-" : "", b ? b : "");
	return (int)nkeys++;
}

static void add_pattern(int key, const uint8_t *bytes, size_t len)
{
	if (npatterns == MAX_PATTERNS)
		die("too many patterns");
	memcpy(patterns[npatterns].bytes, bytes, len);
	patterns[npatterns].len = len;
	patterns[npatterns].key = key;
	npatterns++;
}

/* A secret that is not an AES key: raw bytes and HMAC's padded forms. */
static void add_secret(int key, const uint8_t k[32])
{
	uint8_t pad[32];

	add_pattern(key, k, 32);
	for (int i = 0; i < 32; i++)
		pad[i] = k[i] ^ 0x36;
	add_pattern(key, pad, 32);
	for (int i = 0; i < 32; i++)
		pad[i] = k[i] ^ 0x5c;
	add_pattern(key, pad, 32);
}

/* An AES-256 key: raw, and pieces of its expanded schedule. */
static void add_aes_key(int key, const uint8_t k[32])
{
	AES_KEY ks;
	uint8_t words[240], bytes[240];

	add_secret(key, k);
	if (AES_set_encrypt_key(k, 256, &ks) != 0)
		die("AES_set_encrypt_key");
	memcpy(words, ks.rd_key, sizeof(words));
	for (int i = 0; i < 240; i += 4)
		for (int j = 0; j < 4; j++)
			bytes[i + j] =
				(uint8_t)(ks.rd_key[i / 4] >> (24 - 8 * j));
	add_pattern(key, bytes + 32, 32);
	add_pattern(key, words + 32, 32);
	add_pattern(key, bytes + 224, 16);
	add_pattern(key, words + 224, 16);
	explicit_bzero(&ks, sizeof(ks));
}

static int hex_key(const char *hex, uint8_t out[32])
{
	if (strlen(hex) != 64)
		return -1;
	for (int i = 0; i < 32; i++)
		/* NOLINTNEXTLINE(cert-err34-c): two hex digits cannot overflow */
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return 0;
}

static size_t read_file(const char *path, uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, len);
	close(fd);
	return n < 0 ? 0 : (size_t)n;
}

static void volume_keys(const char *cipherdir, const uint8_t cmk[32])
{
	static const char info_mac[] = "cmkfs v1 volume mac";
	static const char info_siv[] = "cmkfs v1 name siv key";
	uint8_t buf[CMK_VOLUME_SIZE], mac_key[32], name_key[32], siv[64];
	struct cmk_volume_info vi;
	char path[4096];
	int k;

	snprintf(path, sizeof(path), "%s/%s", cipherdir, CMK_VOLUME_FILE);
	if (read_file(path, buf, sizeof(buf)) != sizeof(buf) ||
	    cmk_volume_parse(buf, sizeof(buf), &vi, NULL) != 0)
		die("cannot read the volume descriptor");
	if (cmk_hkdf_sha256(cmk, 32, vi.volume_id, CMK_ID_LEN, info_mac,
			    mac_key, 32) != 0)
		die("hkdf");
	add_secret(new_key("volume-mac-key", NULL), mac_key);
	if (vi.name_active < 0)
		return; /* plaintext names */
	if (cmk_volume_open_name_slot(buf, vi.name_active, cmk, name_key) != 0)
		die("cannot unwrap the name key");
	add_secret(new_key("name-key", NULL), name_key);
	if (cmk_hkdf_sha256(name_key, 32, vi.volume_id, CMK_ID_LEN, info_siv,
			    siv, 64) != 0)
		die("hkdf");
	k = new_key("name-siv-keys", NULL);
	add_aes_key(k, siv);
	add_aes_key(k, siv + 32);
}

static void file_keys(const char *label, const char *backing,
		      const uint8_t cmk[32])
{
	static const char info_wrap[] = "cmkfs v1 dek wrap";
	static const char info_xts[] = "cmkfs v1 xts key";
	uint8_t hdr[CMK_HEADER_SIZE], kek[32], dek[32], xts[64];
	struct cmk_header_info info;
	int k;

	if (read_file(backing, hdr, sizeof(hdr)) != sizeof(hdr) ||
	    cmk_header_parse(hdr, sizeof(hdr), &info, NULL) != 0 ||
	    info.active < 0)
		die("cannot read a backing file's header");
	if (cmk_header_open_slot(hdr, info.active, cmk, dek) != 0)
		die("cannot unwrap a DEK");
	if (cmk_hkdf_sha256(cmk, 32, info.file_id, CMK_ID_LEN, info_wrap, kek,
			    32) != 0 ||
	    cmk_hkdf_sha256(dek, 32, info.file_id, CMK_ID_LEN, info_xts, xts,
			    64) != 0)
		die("hkdf");
	add_aes_key(new_key(label, "kek"), kek);
	add_aes_key(new_key(label, "dek"), dek);
	k = new_key(label, "xts-keys");
	add_aes_key(k, xts);
	add_aes_key(k, xts + 32);
}

static void record(size_t key, uint64_t addr, bool locked, const char *region)
{
	struct key *k = &keys[key];

	/* One schedule or padded key matches several patterns: hits within
	 * 256 bytes of one already seen are the same copy. */
	for (size_t i = 0; i < k->nhits; i++)
		if (addr + 256 > k->hits[i].addr &&
		    addr < k->hits[i].addr + 256)
			return;
	if (k->nhits == MAX_HITS)
		return;
	k->hits[k->nhits].addr = addr;
	k->hits[k->nhits].locked = locked;
	snprintf(k->hits[k->nhits].region, sizeof(k->hits[0].region), "%s",
		 region);
	k->nhits++;
}

static void scan_buf(const uint8_t *buf, size_t len, uint64_t addr, bool locked,
		     const char *region)
{
	for (size_t p = 0; p < npatterns; p++) {
		const uint8_t *at = buf, *end = buf + len;

		while (at < end) {
			const uint8_t *f = memmem(at, (size_t)(end - at),
						  patterns[p].bytes,
						  patterns[p].len);
			if (!f)
				break;
			record((size_t)patterns[p].key,
			       addr + (uint64_t)(f - buf), locked, region);
			at = f + 1;
		}
	}
}

/* Reads the present pages of [start, end) and scans each run of them. The
 * page map is read in batches: a sparse mapping of gigabytes costs little. */
static void scan_range(int mem, int pagemap, uint64_t start, uint64_t end,
		       bool locked, const char *region)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	static uint8_t *buf;
	static size_t cap;
	static uint64_t ents[4096];
	uint64_t run = 0, run_len = 0, batch = 0, nbatch = 0;

	for (uint64_t a = start; a <= end; a += page) {
		bool present = false;

		if (a < end) {
			uint64_t idx = a / page;

			if (idx < batch || idx >= batch + nbatch) {
				ssize_t n = pread(pagemap, ents, sizeof(ents),
						  (off_t)(idx * 8));

				batch = idx;
				nbatch = n > 0 ? (uint64_t)n / 8 : 0;
			}
			if (idx < batch + nbatch)
				present = (ents[idx - batch] >> 62) != 0;
		}
		if (present && run_len == 0)
			run = a;
		if (present) {
			run_len += page;
			if (run_len < (64u << 20) && a + page < end)
				continue;
		}
		if (run_len) {
			ssize_t n;

			if (run_len > cap) {
				free(buf);
				cap = run_len;
				buf = malloc(cap);
				if (!buf)
					die("out of memory");
			}
			n = pread(mem, buf, run_len, (off_t)run);
			if (n > 0)
				scan_buf(buf, (size_t)n, run, locked, region);
			run_len = 0;
		}
	}
}

/* AddressSanitizer's shadow memory (x86-64): state bytes about memory, never
 * its contents, and terabytes of address space. */
static bool asan_shadow(uint64_t start, uint64_t end)
{
	return start >= 0x7fff8000ull && end <= 0x10007fff8000ull;
}

/* A mapping's name for the report: the file's base name, [heap], [stack],
 * or [anon]. */
static void region_name(const char *name, char *out, size_t size)
{
	const char *slash;

	while (*name == ' ')
		name++;
	slash = strrchr(name, '/');
	snprintf(out, size, "%.63s",
		 *name ? (slash ? slash + 1 : name) : "[anon]");
}

static void scan(pid_t pid)
{
	char path[64], line[4096], region[64] = "";
	uint64_t start = 0, end = 0, rss = 0;
	bool readable = false, pending = false;
	int mem, pagemap;
	FILE *smaps;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	smaps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	pagemap = open(path, O_RDONLY);
	if (!smaps || mem < 0 || pagemap < 0)
		die("cannot read the process's memory (root?)");
	while (fgets(line, sizeof(line), smaps)) {
		char perms[8] = "", name[4096] = "";
		uint64_t s, e;

		/* NOLINTNEXTLINE(cert-err34-c): the kernel's smaps lines */
		if (sscanf(line,
			   "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %*s %4095[^\n]",
			   &s, &e, perms, name) >= 3) {
			start = s;
			end = e;
			readable = perms[0] == 'r';
			pending = true;
			rss = 0;
			region_name(name, region, sizeof(region));
			continue;
		}
		if (pending &&
		    (!strncmp(line, "Rss:", 4) || !strncmp(line, "Swap:", 5))) {
			uint64_t kb = 0;

			/* NOLINTNEXTLINE(cert-err34-c): the kernel's smaps lines */
			sscanf(strchr(line, ':') + 1, "%" SCNu64, &kb);
			rss += kb; /* resident or swapped: worth reading */
		}
		if (pending && !strncmp(line, "VmFlags:", 8)) {
			bool locked = strstr(line, " lo") &&
				      strstr(line, " dd");

			pending = false;
			if (readable && rss && !asan_shadow(start, end) &&
			    strcmp(region, "[vvar]") != 0 &&
			    strcmp(region, "[vsyscall]") != 0)
				scan_range(mem, pagemap, start, end, locked,
					   region);
		}
	}
	fclose(smaps);
	close(mem);
	close(pagemap);
}

int main(int argc, char **argv)
{
	uint8_t cmk[32];
	char b64[64];
	pid_t pid;

	if (argc < 4) {
		fprintf(stderr, "usage: key_scan PID CMK_HEX CIPHERDIR "
				"[LABEL=BACKING_FILE | text:LABEL=TEXT ...]\n");
		return 2;
	}
	if (cmk_crypto_init(NULL) < 0)
		die("crypto init");
	keys = calloc(MAX_KEYS, sizeof(*keys));
	if (!keys)
		die("out of memory");
	pid = (pid_t)strtol(argv[1], NULL, 10);
	if (hex_key(argv[2], cmk) != 0)
		die("CMK_HEX: 64 hex digits");
	add_secret(new_key("cmk", NULL), cmk);
	/* The keystore's text of it: its first 32 base64 characters. */
	if (cmk_base64_encode(cmk, 32, b64, sizeof(b64)) != 0)
		die("base64");
	add_pattern(new_key("cmk", "base64"), (const uint8_t *)b64, 32);
	volume_keys(argv[3], cmk);
	for (int i = 4; i < argc; i++) {
		char label[64];
		const char *eq = strchr(argv[i], '=');

		bool text = !strncmp(argv[i], "text:", 5);
		const char *name = text ? argv[i] + 5 : argv[i];

		if (!eq || eq == name || (size_t)(eq - name) >= sizeof(label))
			die("LABEL=BACKING_FILE or text:LABEL=TEXT");
		memcpy(label, name, (size_t)(eq - name));
		label[eq - name] = '\0';
		if (!text) {
			file_keys(label, eq + 1, cmk);
		} else {
			size_t len = strlen(eq + 1);

			if (len < 8)
				die("text:LABEL=TEXT: at least 8 bytes");
			add_pattern(new_key(label, NULL),
				    (const uint8_t *)eq + 1,
				    len < 32 ? len : 32);
		}
	}
	scan(pid);
	for (size_t i = 0; i < nkeys; i++) {
		size_t locked = 0;

		for (size_t h = 0; h < keys[i].nhits; h++)
			locked += keys[i].hits[h].locked;
		printf("key %s copies %zu locked %zu unlocked %zu",
		       keys[i].label, keys[i].nhits, locked,
		       keys[i].nhits - locked);
		if (locked < keys[i].nhits) {
			printf(" in");
			for (size_t h = 0; h < keys[i].nhits; h++)
				if (!keys[i].hits[h].locked)
					printf(" %s@%" PRIx64,
					       keys[i].hits[h].region,
					       keys[i].hits[h].addr);
		}
		printf("\n");
	}
	return 0;
}
