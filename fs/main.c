/* SPDX-License-Identifier: MIT */
/* The cmkfs command line: one table of commands, each with its own help,
 * options and operands; the mount.fuse3 form "cmkfs CIPHERDIR MOUNTPOINT
 * -o ..." when the first word is no command. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "crypto/format.h"
#include "fs/admin.h"
#include "fs/cli.h"
#include "fs/fuse_front.h"
#include "fs/mount.h"
#include "fs/prompt.h"
#include "fs/volume.h"
#include "kms/http.h"
#include "kms/keystore.h"
#include "kms/kms.h"
#include "version.h"

/* Options a command may take. */
enum {
	OPT_CONF = 1 << 0,	    /* -c CONF, --config[=]CONF */
	OPT_JOBS = 1 << 1,	    /* -j JOBS */
	OPT_JSON = 1 << 2,	    /* --json */
	OPT_PLAINTEXT = 1 << 3,	    /* --plaintext-names */
	OPT_REPAIR = 1 << 4,	    /* --repair */
	OPT_PROGRESS_JSON = 1 << 5, /* --progress-json */
	OPT_NEW_PASS = 1 << 6,	    /* --new-passphrase-file FILE */
	OPT_UNSEAL = 1 << 7,	    /* --unseal */
	OPT_ZERO = 1 << 8,	    /* -z: NUL-terminated output lines */
	OPT_VOLUME_KEY = 1 << 9,    /* --volume-key */
};

struct cmd_args {
	const struct command *cmd;
	const char *conf_path;
	unsigned int jobs;
	bool json;
	bool plaintext_names;
	bool repair;
	bool progress_json;
	bool unseal;
	bool zero;
	bool volume_key;
	const char *new_pass_file;
	int argc; /* operands */
	char **argv;
};

struct command {
	const char *name;
	const char *synopsis; /* after "cmkfs " */
	const char *summary;  /* one line, for cmkfs --help */
	const char *help;     /* cmkfs COMMAND --help, after the synopsis */
	unsigned options;
	const char *operands;		/* what they are, for messages */
	int min_operands, max_operands; /* -1: any number */
	int usage_exit;			/* fsck follows e2fsck: 16 */
	int (*run)(struct cmd_args *args);
};

static const struct command commands[];

/* --- usage ------------------------------------------------------------------
 */

/* One line saying what was wrong and a hint; never the whole help. */
static int usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cmkfs: %s%s", cmd ? cmd->name : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry 'cmkfs %s --help'.\n", cmd->name);
	else
		fprintf(stderr, "\nTry 'cmkfs --help'.\n");
	return cmd ? cmd->usage_exit : CMK_EXIT_USAGE;
}

static void command_help(const struct command *cmd)
{
	printf("usage: cmkfs %s\n\n%s", cmd->synopsis, cmd->help);
	if (cmd->options & OPT_CONF)
		printf("\n  -c, --config CONF   the configuration (default %s)\n",
		       CMK_CONF_DEFAULT_PATH);
	printf("  -h, --help          this text\n");
}

static void main_help(void)
{
	printf("usage: cmkfs COMMAND [OPTIONS] [OPERANDS]\n"
	       "       cmkfs CIPHERDIR MOUNTPOINT -o config=CONF[,OPTIONS]\n"
	       "\nCommands:\n");
	for (const struct command *c = commands; c->name; c++)
		printf("  %-8s %s\n", c->name, c->summary);
	printf("\n'cmkfs COMMAND --help' describes a command; man cmkfs(8) "
	       "and cmkfs.conf(5) say more.\n"
	       "Exit codes: 0 ok, 1 other failure, 2 usage, 3 configuration, "
	       "4 key service,\n5 wrong key, 6 volume or file, 7 mount point "
	       "(fsck: 0, 1, 4, 8, 16 as e2fsck).\n");
}

static void print_version(void)
{
	printf("cmkfs %s (on-disk format %d)\n", CMKFS_VERSION,
	       CMK_FORMAT_VERSION);
	printf("libfuse %s\n", fs_fuse_version());
	printf("%s\n", cmk_crypto_version());
	printf("libcurl %s\n", cmk_http_curl_version());
}

/* --- options
 * ------------------------------------------------------------------ */

/* -j's value: 1 to CMK_WALK_JOBS_MAX. */
static bool parse_jobs(const char *s, unsigned int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || n < 1 || n > 64)
		return false;
	*out = (unsigned int)n;
	return true;
}

static const char *option_name(int opt)
{
	switch (opt) {
	case 'c':
		return "-c";
	case 'j':
		return "-j";
	case 'J':
		return "--json";
	case 'P':
		return "--plaintext-names";
	case 'R':
		return "--repair";
	case 'G':
		return "--progress-json";
	case 'N':
		return "--new-passphrase-file";
	case 'U':
		return "--unseal";
	case 'z':
		return "-z";
	case 'V':
		return "--volume-key";
	default:
		return "?";
	}
}

static unsigned option_bit(int opt)
{
	switch (opt) {
	case 'c':
		return OPT_CONF;
	case 'j':
		return OPT_JOBS;
	case 'J':
		return OPT_JSON;
	case 'P':
		return OPT_PLAINTEXT;
	case 'R':
		return OPT_REPAIR;
	case 'G':
		return OPT_PROGRESS_JSON;
	case 'N':
		return OPT_NEW_PASS;
	case 'U':
		return OPT_UNSEAL;
	case 'z':
		return OPT_ZERO;
	case 'V':
		return OPT_VOLUME_KEY;
	default:
		return 0;
	}
}

/* Options may stand anywhere among the operands (GNU getopt permutes
 * them); "--" ends them. Returns 0, 1 after --help, or an exit code for a
 * usage error (already reported). */
static int parse_args(const struct command *cmd, int argc, char **argv,
		      struct cmd_args *args)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ "plaintext-names", no_argument, NULL, 'P' },
		{ "repair", no_argument, NULL, 'R' },
		{ "progress-json", no_argument, NULL, 'G' },
		{ "new-passphrase-file", required_argument, NULL, 'N' },
		{ "unseal", no_argument, NULL, 'U' },
		{ "zero", no_argument, NULL, 'z' },
		{ "volume-key", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int opt;

	memset(args, 0, sizeof(*args));
	args->cmd = cmd;
	args->conf_path = CMK_CONF_DEFAULT_PATH;
	/* Header I/O waits on the disk: more threads than CPUs help. */
	args->jobs = cpus > 0 && cpus < 16 ? 4 * (unsigned int)cpus : 64;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:j:zh", longopts, NULL)) !=
	       -1) {
		if (opt == 'h') {
			command_help(cmd);
			return 1;
		}
		if (opt == '?')
			return usage_error(cmd, "unknown option '%s'",
					   argv[optind - 1]);
		if (opt == ':')
			return usage_error(cmd, "option '%s' needs a value",
					   argv[optind - 1]);
		if (!(cmd->options & option_bit(opt)))
			return usage_error(cmd, "%s is not an option of %s",
					   option_name(opt), cmd->name);
		switch (opt) {
		case 'c':
			args->conf_path = optarg;
			break;
		case 'j':
			if (!parse_jobs(optarg, &args->jobs))
				return usage_error(cmd,
						   "-j takes 1 to 64, "
						   "not '%s'",
						   optarg);
			break;
		case 'J':
			args->json = true;
			break;
		case 'P':
			args->plaintext_names = true;
			break;
		case 'R':
			args->repair = true;
			break;
		case 'G':
			args->progress_json = true;
			break;
		case 'N':
			args->new_pass_file = optarg;
			break;
		case 'U':
			args->unseal = true;
			break;
		case 'z':
			args->zero = true;
			break;
		case 'V':
			args->volume_key = true;
			break;
		}
	}
	args->argc = argc - optind;
	args->argv = argv + optind;
	if (args->argc < cmd->min_operands)
		return usage_error(cmd, "missing operand: %s %s", cmd->name,
				   cmd->operands);
	if (cmd->max_operands >= 0 && args->argc > cmd->max_operands)
		return usage_error(cmd, "unexpected operand '%s'",
				   args->argv[cmd->max_operands]);
	return 0;
}

/* Prints err (escaped) and returns the exit code its category gives. */
static int fail(const struct cmk_err *err, int ret)
{
	return cmk_fail(NULL, err, ret);
}

static int load_conf(const char *path, struct cmk_conf *conf)
{
	struct cmk_err err = { 0 };

	int ret = cmk_conf_load(path, conf, &err);

	if (ret) {
		fail(&err, ret);
		return -1;
	}
	return 0;
}

/* --- init, path, info
 * ---------------------------------------------------------- */

static int cmd_init(struct cmd_args *args)
{
	char version[CMK_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	int ret;

	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	ret = cmk_volume_init(&conf, args->argv[0], !args->plaintext_names,
			      version, &err);
	if (ret)
		return fail(&err, ret);
	printf("cmkfs: created a volume in %s with key version %s\n",
	       args->argv[0], version);
	return CMK_EXIT_OK;
}

/* `cmkfs path -c CONF CIPHERDIR PLAINPATH...`: one backing path a line. */
static int cmd_path(struct cmd_args *args)
{
	struct cmk_volume *vol = NULL;
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	char out[PATH_MAX];
	int ret, status = CMK_EXIT_OK;

	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	ret = cmk_volume_open(&conf, args->argv[0], &vol, &err);
	if (ret)
		return fail(&err, ret);
	for (int i = 1; i < args->argc; i++) {
		cmk_err_clear(&err);
		ret = cmk_volume_backing_path(vol, args->argv[i], out,
					      sizeof(out), &err);
		if (ret == -EINVAL || ret == -ENAMETOOLONG)
			status = fail(&err,
				      cmk_err_cat(&err, CMK_CAT_USAGE, ret));
		else if (ret)
			status = fail(&err, ret);
		else
			printf("%s/%s%c", args->argv[0], out,
			       args->zero ? '\0' : '\n');
	}
	cmk_volume_close(vol);
	return status;
}

static void hex(char *out, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* Prints one backing file's header; checks which slot the volume's keys
 * unwrap when the volume is open. */
static int info_one(const char *path, struct cmk_volume *vol)
{
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_header_info info;
	struct cmk_err err = { 0 };
	char idhex[2 * CMK_ID_LEN + 1];
	struct stat st;
	size_t got = 0;
	int fd, ret;

	fd = cmk_open_regular(AT_FDCWD, path, O_RDONLY, &st, &err);
	if (fd < 0)
		return fail(&err, cmk_err_cat(&err, CMK_CAT_VOLUME, fd));
	ret = cmk_read_full(fd, hdr, sizeof(hdr), 0, &got);
	close(fd);
	if (ret) {
		cmk_err_set(&err, ret, "%s: %s", path, strerror(-ret));
		return fail(&err, cmk_err_cat(&err, CMK_CAT_VOLUME, ret));
	}
	ret = cmk_header_parse(hdr, got, &info, &err);
	if (ret && info.format_version == 0) {
		cmk_err_prefix(&err, "%s: ", path);
		return fail(&err, cmk_err_cat(&err, CMK_CAT_VOLUME, ret));
	}
	printf("%s:\n", path);
	printf("  format:         cmkfs %u, cipher suite %u (AES-256-XTS data, "
	       "AES-256-GCM key wrap), unit %u, header %u\n",
	       info.format_version, info.suite, info.unit_size,
	       info.header_size);
	hex(idhex, info.volume_id, CMK_ID_LEN);
	printf("  volume id:      %s%s\n", idhex,
	       vol && memcmp(info.volume_id, vol->info.volume_id, CMK_ID_LEN) !=
				       0
		       ? " (NOT this volume's)"
		       : "");
	hex(idhex, info.file_id, CMK_ID_LEN);
	printf("  file id:        %s\n", idhex);
	printf("  plaintext size: %lld bytes\n",
	       (long long)cmk_plain_size((uint64_t)st.st_size));
	for (int i = 0; i < CMK_SLOT_COUNT; i++) {
		const struct cmk_slot_info *slot = &info.slots[i];

		if (slot->state == CMK_SLOT_EMPTY)
			printf("  slot %d:         empty\n", i);
		else if (slot->state == CMK_SLOT_DAMAGED)
			printf("  slot %d:         damaged: %s\n", i,
			       slot->problem);
		else
			printf("  slot %d:         sequence %llu, CMK version "
			       "%s%s\n",
			       i, (unsigned long long)slot->seq,
			       slot->cmk_version,
			       i == info.active ? " (active)" : "");
	}
	if (ret) {
		printf("  status:         unreadable: %s\n", err.msg);
		return CMK_EXIT_VOLUME;
	}
	if (vol) {
		uint8_t *dek = cmk_secure_alloc(CMK_KEY_LEN);
		int slot_used = -1;

		ret = dek ? cmk_keyring_unwrap(vol->keyring, hdr, &info, dek,
					       &slot_used, &err)
			  : -ENOMEM;
		cmk_secure_free(dek, CMK_KEY_LEN);
		if (ret == 0) {
			printf("  key:            slot %d unwraps with CMK "
			       "version %s\n",
			       slot_used, info.slots[slot_used].cmk_version);
		} else {
			printf("  key:            does not unwrap: %s\n",
			       err.msg);
			return cmk_exit_code(&err, ret);
		}
	}
	return CMK_EXIT_OK;
}

/* The volume a path points into: the nearest directory above path that
 * holds a volume descriptor. Splits path into that directory (cipherdir)
 * and the rest (*rest). false when there is none. */
static bool find_volume(const char *path, char *cipherdir, size_t size,
			const char **rest)
{
	char probe[PATH_MAX];
	size_t len = strlen(path);
	struct stat st;

	if (len >= sizeof(probe) || len >= size)
		return false;
	memcpy(cipherdir, path, len + 1);
	while (len > 0) {
		char *slash = strrchr(cipherdir, '/');

		if (!slash) {
			/* A relative path: its first part is in ".". */
			if (lstat(CMK_VOLUME_FILE, &st) == 0) {
				snprintf(cipherdir, size, ".");
				*rest = path;
				return true;
			}
			return false;
		}
		*slash = '\0';
		len = (size_t)(slash - cipherdir);
		snprintf(probe, sizeof(probe), "%s/%s", len ? cipherdir : "",
			 CMK_VOLUME_FILE);
		if (lstat(probe, &st) == 0) {
			if (!len)
				snprintf(cipherdir, size, "/");
			*rest = path + len + 1;
			return true;
		}
	}
	return false;
}

static int cmd_info(struct cmd_args *args)
{
	struct cmk_conf conf;
	int status = CMK_EXIT_OK;

	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	for (int i = 0; i < args->argc; i++) {
		char cipherdir[PATH_MAX], backing[PATH_MAX], rel[PATH_MAX];
		const char *path = args->argv[i], *rest = NULL;
		struct cmk_volume *vol = NULL;
		struct cmk_err err = { 0 };
		struct stat st;
		int rc;

		if (!find_volume(path, cipherdir, sizeof(cipherdir), &rest)) {
			if (lstat(path, &st) != 0) {
				fprintf(stderr, "cmkfs: %s: %s\n", path,
					strerror(errno));
				status = CMK_EXIT_VOLUME;
				continue;
			}
			/* A backing file outside any volume: its header is
			 * still worth showing, without keys. */
			fprintf(stderr,
				"cmkfs: warning: %s is in no volume "
				"(no %s above it): keys not checked\n",
				path, CMK_VOLUME_FILE);
			rc = info_one(path, NULL);
			if (rc != CMK_EXIT_OK)
				status = rc;
			continue;
		}
		/* The configured key must be the volume's, as for mount. */
		rc = cmk_volume_open(&conf, cipherdir, &vol, &err);
		if (rc == -EKEYREJECTED || rc == -ENOENT || rc == -EBADMSG) {
			status = fail(&err, rc);
			continue;
		}
		if (rc) {
			fprintf(stderr,
				"cmkfs: warning: keys not checked: "
				"%s\n",
				err.msg);
			vol = NULL;
		}
		/* Not a backing file: a plaintext path into the volume. */
		if (lstat(path, &st) != 0 && vol) {
			rc = cmk_volume_backing_path(vol, rest, rel,
						     sizeof(rel), &err);
			if (rc == 0 &&
			    snprintf(backing, sizeof(backing), "%s/%s",
				     cipherdir, rel) >= (int)sizeof(backing))
				rc = cmk_err_set(&err, -ENAMETOOLONG,
						 "%s: path too long", path);
			if (rc) {
				status = fail(&err, rc);
				cmk_volume_close(vol);
				continue;
			}
			printf("%s is %s\n", path, backing);
			path = backing;
		}
		rc = info_one(path, vol);
		if (rc != CMK_EXIT_OK)
			status = rc;
		cmk_volume_close(vol);
	}
	return status;
}

/* --- key
 * ---------------------------------------------------------------------- */

static int key_list(struct cmk_conf *conf, bool json, struct cmk_err *err)
{
	struct cmk_kms_version *versions = NULL;
	struct cmk_kms *kms = NULL;
	size_t count = 0;
	int ret;

	ret = cmk_kms_open(conf, &kms, err);
	if (ret == 0)
		ret = cmk_kms_list_versions(kms, &versions, &count, err);
	if (ret == 0 && json) {
		json_t *root = json_object(), *list = json_array();

		json_object_set_new(root, "version", json_integer(1));
		json_object_set_new(root, "key",
				    json_string(cmk_kms_key_name(kms)));
		for (size_t i = 0; i < count; i++)
			json_array_append_new(
				list,
				json_pack("{s:s, s:b, s:o}", "id",
					  versions[i].id, "enabled",
					  versions[i].enabled, "created",
					  versions[i].created
						  ? json_integer(
							    versions[i].created)
						  : json_null()));
		json_object_set_new(root, "versions", list);
		if (json_dumpf(root, stdout, JSON_INDENT(2)) == 0)
			putchar('\n');
		json_decref(root);
	} else if (ret == 0) {
		printf("key '%s':\n", cmk_kms_key_name(kms));
		printf("%-36s %-9s %s\n", "VERSION", "STATE", "CREATED");
		for (size_t i = 0; i < count; i++) {
			char when[32] = "-";
			time_t t = (time_t)versions[i].created;
			struct tm tm;

			if (t && gmtime_r(&t, &tm))
				strftime(when, sizeof(when),
					 "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf("%-36s %-9s %s\n", versions[i].id,
			       versions[i].enabled ? "enabled" : "disabled",
			       when);
		}
	}
	free(versions);
	cmk_kms_close(kms);
	return ret;
}

static int key_passwd(struct cmd_args *args, struct cmk_conf *conf,
		      struct cmk_err *err)
{
	uint8_t *pass = NULL;
	size_t len = 0;
	int ret;

	if (args->unseal && args->new_pass_file)
		return usage_error(args->cmd, "--unseal and "
					      "--new-passphrase-file exclude "
					      "each other");
	if (!args->unseal) {
		ret = cmk_keystore_read_passphrase(
			args->new_pass_file, "the new passphrase of keystore",
			&pass, &len, err);
		if (ret)
			return fail(err, cmk_kms_cat(err, ret));
	}
	ret = cmk_keystore_passwd(conf, pass, len, err);
	cmk_secure_free(pass, CMK_KEYSTORE_PASS_MAX);
	if (ret)
		return fail(err, cmk_kms_cat(err, ret));
	if (args->unseal)
		printf("cmkfs: keystore %s is no longer sealed; remove "
		       "passphrase_file and passphrase_prompt from %s\n",
		       conf->file.keystore, conf->path);
	else
		printf("cmkfs: keystore %s is sealed with the new "
		       "passphrase; %s\n",
		       conf->file.keystore,
		       args->new_pass_file
			       ? "point passphrase_file in the configuration "
				 "at it"
			       : "set passphrase_prompt = yes (or a "
				 "passphrase_file) in the configuration");
	return CMK_EXIT_OK;
}

static int cmd_key(struct cmd_args *args)
{
	static const struct {
		const char *name;
		int operands; /* after the subcommand */
		unsigned options;
	} subs[] = {
		{ "create", 0, 0 },
		{ "rotate", 0, 0 },
		{ "list", 0, OPT_JSON },
		{ "disable", 1, 0 },
		{ "enable", 1, 0 },
		{ "passwd", 0, OPT_NEW_PASS | OPT_UNSEAL },
	};
	char version[CMK_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	const char *sub = args->argv[0];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(sub, subs[i].name) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return usage_error(args->cmd, "unknown key command '%s'", sub);
	if (args->argc - 1 < subs[i].operands)
		return usage_error(args->cmd, "%s: missing VERSION", sub);
	if (args->argc - 1 > subs[i].operands)
		return usage_error(args->cmd, "%s: unexpected operand '%s'",
				   sub, args->argv[1 + subs[i].operands]);
	if ((args->json && !(subs[i].options & OPT_JSON)) ||
	    ((args->new_pass_file || args->unseal) &&
	     !(subs[i].options & OPT_NEW_PASS)))
		return usage_error(args->cmd, "%s takes no such option", sub);
	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	if (conf.provider != CMK_PROVIDER_FILE && strcmp(sub, "list") != 0) {
		fprintf(stderr,
			"cmkfs: key %s works on the local keystore "
			"only; manage this key in its key service\n",
			sub);
		return CMK_EXIT_USAGE;
	}
	if (!strcmp(sub, "create")) {
		ret = cmk_keystore_create(&conf, version, &err);
		if (ret == 0)
			printf("cmkfs: created keystore %s with key '%s' "
			       "version %s\n",
			       conf.file.keystore, conf.file.key_name, version);
	} else if (!strcmp(sub, "rotate")) {
		ret = cmk_keystore_rotate(&conf, version, &err);
		if (ret == 0)
			printf("cmkfs: key '%s' version %s created; new files "
			       "use it from each mount's next re-check\n",
			       conf.file.key_name, version);
	} else if (!strcmp(sub, "disable") || !strcmp(sub, "enable")) {
		bool enable = !strcmp(sub, "enable");

		ret = cmk_keystore_set_enabled(&conf, args->argv[1], enable,
					       &err);
		if (ret == 0)
			printf("cmkfs: key '%s' version %s %s\n",
			       conf.file.key_name, args->argv[1],
			       enable ? "enabled" : "disabled");
	} else if (!strcmp(sub, "passwd")) {
		return key_passwd(args, &conf, &err);
	} else {
		ret = key_list(&conf, args->json, &err);
	}
	if (ret)
		return fail(&err, cmk_kms_cat(&err, ret));
	return CMK_EXIT_OK;
}

/* --- commands over a whole volume
 * ------------------------------------------------ */

static int cmd_rewrap(struct cmd_args *args)
{
	struct cmk_conf conf;

	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	return cmk_cmd_rewrap(&conf, args->argv[0], args->jobs,
			      args->progress_json, args->volume_key);
}

static int cmd_status(struct cmd_args *args)
{
	struct cmk_conf conf;

	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	return cmk_cmd_status(&conf, args->argv[0], args->jobs, args->json);
}

static int cmd_fsck(struct cmd_args *args)
{
	struct cmk_conf conf;
	struct cmk_err err = { 0 };

	int ret = cmk_conf_load(args->conf_path, &conf, &err);

	if (ret) {
		fail(&err, ret);
		return CMK_FSCK_OPERATIONAL;
	}
	return cmk_cmd_fsck(&conf, args->argv[0], args->jobs, args->repair);
}

static int cmd_mount(struct cmd_args *args)
{
	(void)args;
	return CMK_EXIT_FAILURE; /* dispatched before parsing: see main() */
}

static const struct command commands[] = {
	{ "init", "init [--plaintext-names] [-c CONF] CIPHERDIR",
	  "create a volume in an empty (or new) directory",
	  "Creates a volume: writes the volume descriptor (and its copy) into\n"
	  "CIPHERDIR, which must be empty or absent, sealed with the newest\n"
	  "version of the configured key. File names are encrypted unless\n"
	  "asked otherwise; the choice cannot change later.\n\n"
	  "  --plaintext-names   keep file names readable in CIPHERDIR\n",
	  OPT_CONF | OPT_PLAINTEXT, "CIPHERDIR", 1, 1, CMK_EXIT_USAGE,
	  cmd_init },
	{ "mount",
	  "mount [-f] [-d] [-o OPTIONS] [-c CONF] CIPHERDIR MOUNTPOINT",
	  "mount a volume (returns once the mount is up)", "", OPT_CONF,
	  "CIPHERDIR MOUNTPOINT", 2, 2, CMK_EXIT_USAGE, cmd_mount },
	{ "info", "info [-c CONF] FILE...",
	  "show a backing file's header (never key material)",
	  "Shows the header of each backing FILE: format, volume and file ids,\n"
	  "plaintext size, both key slots and which one the key service's\n"
	  "versions unwrap. FILE is a backing file or CIPHERDIR/PLAINPATH.\n",
	  OPT_CONF, "FILE...", 1, -1, CMK_EXIT_USAGE, cmd_info },
	{ "path", "path [-z] [-c CONF] CIPHERDIR PLAINPATH...",
	  "print the backing path of paths in the volume",
	  "Prints where each PLAINPATH (as applications see it) is stored in\n"
	  "CIPHERDIR, one a line. Every directory on the way must exist.\n\n"
	  "  -z, --zero          end each path with NUL, not a newline\n",
	  OPT_CONF | OPT_ZERO, "CIPHERDIR PLAINPATH", 2, -1, CMK_EXIT_USAGE,
	  cmd_path },
	{ "status", "status [--json] [-j JOBS] [-c CONF] CIPHERDIR",
	  "key versions and how many files each one wraps",
	  "Lists the key's versions in the key service and how many files\n"
	  "each wraps, and names every file whose header cannot be read (by\n"
	  "its plaintext path where the names decrypt). Exits 6 when a\n"
	  "header is unreadable, 4 when the key service cannot be asked.\n\n"
	  "  --json              one JSON document on stdout\n"
	  "  -j, --jobs JOBS     threads reading headers (1-64)\n",
	  OPT_CONF | OPT_JSON | OPT_JOBS, "CIPHERDIR", 1, 1, CMK_EXIT_USAGE,
	  cmd_status },
	{ "rewrap",
	  "rewrap [--volume-key] [-j JOBS] [--progress-json] [-c CONF] "
	  "CIPHERDIR",
	  "re-wrap every file's key with the newest key version",
	  "Re-wraps every file's data key with the newest enabled version of\n"
	  "the key, through the header's spare key slot: no data is read or\n"
	  "re-encrypted. On a volume whose volume key the key service wraps,\n"
	  "only the volume key is re-wrapped (no file is touched). Safe while\n"
	  "mounted and when killed: a rerun finishes the job.\n\n"
	  "  --volume-key        (key service keys) replace the volume key\n"
	  "                      itself and re-wrap every header with it\n"
	  "  -j, --jobs JOBS     threads re-wrapping headers (1-64)\n"
	  "  --progress-json     JSON progress lines on stdout, then a summary\n",
	  OPT_CONF | OPT_JOBS | OPT_PROGRESS_JSON | OPT_VOLUME_KEY, "CIPHERDIR",
	  1, 1, CMK_EXIT_USAGE, cmd_rewrap },
	{ "fsck", "fsck [--repair] [-j JOBS] [-c CONF] CIPHERDIR",
	  "check a volume (and repair what is safe)",
	  "Checks both descriptor copies, every header (both key slots),\n"
	  "every encrypted name against its directory id, long-name side\n"
	  "files, directory ids and symlink targets; names problems by their\n"
	  "plaintext paths. --repair fixes only what is safe (orphaned side\n"
	  "files, a damaged spare key slot, a missing or stale descriptor\n"
	  "copy) and never deletes data; it is refused while the volume is\n"
	  "mounted here. Exit codes as e2fsck: 0 clean, 1 errors fixed, 4\n"
	  "errors left, 8 operational error, 16 usage.\n\n"
	  "  --repair            fix what is safe to fix\n"
	  "  -j, --jobs JOBS     threads reading headers (1-64)\n",
	  OPT_CONF | OPT_REPAIR | OPT_JOBS, "CIPHERDIR", 1, 1, CMK_FSCK_USAGE,
	  cmd_fsck },
	{ "key",
	  "key create|rotate|list [--json]|disable VERSION|enable VERSION|\n"
	  "           passwd [--new-passphrase-file FILE | --unseal] "
	  "[-c CONF]",
	  "manage the key's versions (the local keystore)",
	  "  create     create the local keystore with version 1\n"
	  "  rotate     add a new version (used for new files from each "
	  "mount's\n"
	  "             next re-check)\n"
	  "  list       list the key's versions (any key service); --json\n"
	  "  disable    disable a version: its files become unreadable\n"
	  "  enable     enable a version again\n"
	  "  passwd     seal the keystore with a passphrase, change it, or\n"
	  "             remove it (--unseal); the current passphrase comes from\n"
	  "             the configuration, the new one from --new-passphrase-\n"
	  "             file FILE or the terminal (asked twice)\n",
	  OPT_CONF | OPT_JSON | OPT_NEW_PASS | OPT_UNSEAL,
	  "create|rotate|list|disable|enable|passwd", 1, 2, CMK_EXIT_USAGE,
	  cmd_key },
	{ NULL, NULL, NULL, NULL, 0, NULL, 0, 0, 0, NULL },
};

static const struct command *find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* Secrets must not reach a core dump: no dumps at all. */
static void harden_process(void)
{
	struct rlimit none = { 0, 0 };

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct cmk_err err = { 0 };
	struct cmd_args args;
	int ret;

	harden_process();
	if (argc < 2)
		return usage_error(NULL, "no command given");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		main_help();
		return CMK_EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		cmd = argc > 2 ? find_command(argv[2]) : NULL;
		if (argc > 2 && !cmd)
			return usage_error(NULL, "no command '%s'", argv[2]);
		if (cmd && cmd->run == cmd_mount)
			return cmk_mount_main(2, (char *[]){ "mount", "--help",
							     NULL });
		if (cmd)
			command_help(cmd);
		else
			main_help();
		return CMK_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		print_version();
		return CMK_EXIT_OK;
	}
	cmd = find_command(argv[1]);
	/* Command names win over paths: "cmkfs status" is the command even
	 * where a directory of that name exists. mount sets up its locked
	 * key memory in the daemon process itself. */
	if (cmd && cmd->run == cmd_mount)
		return cmk_mount_main(argc - 1, argv + 1);
	if (!cmd && argc >= 3 && argv[1][0] != '-')
		return cmk_mount_main(argc, argv); /* mount.fuse3's form */
	if (!cmd)
		return usage_error(NULL, "unknown command '%s'", argv[1]);
	ret = parse_args(cmd, argc - 1, argv + 1, &args);
	if (ret == 1)
		return CMK_EXIT_OK;
	if (ret)
		return ret;

	ret = cmk_crypto_init(&err);
	if (ret < 0)
		return fail(&err, cmd->usage_exit == CMK_FSCK_USAGE
					  ? CMK_FSCK_OPERATIONAL
					  : CMK_EXIT_FAILURE);
	cmk_kms_global_init();
	cmk_keystore_set_prompt(cmk_prompt_passphrase);
	return cmd->run(&args);
}
