/* The cmkfs command line: init, info, key ..., mount. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "common/log.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "crypto/format.h"
#include "fs/admin.h"
#include "fs/cli.h"
#include "fs/fs.h"
#include "fs/volume.h"
#include "kms/curl_lib.h"
#include "kms/keystore.h"
#include "kms/kms.h"
#include "version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cmkfs COMMAND [OPTIONS] ...\n"
		"\n"
		"Commands:\n"
		"  init [--plaintext-names] -c CONF CIPHERDIR\n"
		"                                  create a volume in an empty directory\n"
		"                                  (file names encrypted unless asked)\n"
		"  mount [-f] [-o OPTS] -c CONF CIPHERDIR MOUNTPOINT\n"
		"                                  mount a volume (returns once it is up)\n"
		"  CIPHERDIR MOUNTPOINT -o config=CONF[,OPTS]\n"
		"                                  the same, as mount.fuse3 and fstab call it\n"
		"  info -c CONF FILE...            show a backing file's header (no key material);\n"
		"                                  FILE may also be CIPHERDIR/PLAINPATH\n"
		"  path -c CONF CIPHERDIR PLAINPATH\n"
		"                                  the backing path of a path in the volume\n"
		"  key create -c CONF              create the local keystore with version 1\n"
		"  key rotate -c CONF              add a new CMK version (used for new files)\n"
		"  key list -c CONF                list the CMK versions\n"
		"  key disable VERSION -c CONF     disable a CMK version\n"
		"  key enable VERSION -c CONF      enable a CMK version again\n"
		"  rewrap [-j JOBS] -c CONF CIPHERDIR\n"
		"                                  re-wrap every file's key with the newest\n"
		"                                  CMK version (no data re-encrypted)\n"
		"  status [--json] -c CONF CIPHERDIR\n"
		"                                  the key's versions and the files of each\n"
		"  --version                       versions of cmkfs and its libraries\n"
		"  --help                          this text\n"
		"\n"
		"-c CONF defaults to " CMK_CONF_DEFAULT_PATH ".\n"
		"Exit codes: 0 ok, 1 other failure, 2 usage, 3 configuration,\n"
		"4 key service, 5 wrong key, 6 volume or file.\n");
}

static void print_version(void)
{
	printf("cmkfs %s (on-disk format %d)\n", CMKFS_VERSION,
	       CMK_FORMAT_VERSION);
	printf("libfuse %s\n", fuse_pkgversion());
	printf("%s\n", cmk_crypto_version());
	{
		struct cmk_err err = { 0 };
		const struct cmk_curl *curl = cmk_curl_lib(&err);

		if (curl)
			printf("libcurl %s (loaded for HTTPS key services)\n",
			       curl->version_info(CURLVERSION_NOW)->version);
		else
			printf("libcurl: %s\n", err.msg);
	}
}

/* Maps an error from the key service or volume layer to an exit code. */
static int exit_for(int err)
{
	switch (err) {
	case -EKEYREJECTED:
		return CMK_EXIT_WRONG_KEY;
	case -EACCES:
	case -ENOKEY:
	case -EKEYREVOKED:
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
	case -ENXIO:
	case -EPROTO:	/* a malformed or hostile answer from the service */
	case -EINVAL:	/* a key value that is not 32 bytes */
		return CMK_EXIT_KMS;
	case -EBADMSG:
	case -EIO:
	case -ENOTEMPTY:
	case -ENOTDIR:
	case -EPROTONOSUPPORT:
		return CMK_EXIT_VOLUME;
	default:
		return CMK_EXIT_FAILURE;
	}
}

/* The same for commands on a whole volume, where a missing file is the
 * volume's descriptor (not a volume). */
static int exit_for_volume_cmd(int err)
{
	return err == -ENOENT ? CMK_EXIT_VOLUME : exit_for(err);
}

static int fail(const struct cmk_err *err, int code)
{
	fprintf(stderr, "cmkfs: %s\n", err->msg[0] ? err->msg : "failed");
	return code;
}

struct cmd_args {
	const char *conf_path;
	unsigned int jobs; /* -j: rewrap and status threads */
	bool json;	   /* --json */
	bool plaintext_names; /* init --plaintext-names */
	int argc;	   /* positional arguments */
	char **argv;
};

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

/* Parses "-c CONF" (anywhere) and collects the positional arguments. */
static int parse_args(int argc, char **argv, struct cmd_args *args)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ "plaintext-names", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int opt;

	args->conf_path = CMK_CONF_DEFAULT_PATH;
	/* Header I/O waits on the disk: more threads than CPUs help. */
	args->jobs = cpus > 0 && cpus < 16 ? 4 * (unsigned int)cpus : 64;
	args->json = false;
	args->plaintext_names = false;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+c:j:h", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'c':
			args->conf_path = optarg;
			break;
		case 'j':
			if (!parse_jobs(optarg, &args->jobs)) {
				fprintf(stderr, "cmkfs: -j takes 1 to 64\n");
				return -EINVAL;
			}
			break;
		case 'J':
			args->json = true;
			break;
		case 'P':
			args->plaintext_names = true;
			break;
		case 'h':
			usage(stdout);
			exit(CMK_EXIT_OK);
		default:
			return -EINVAL;
		}
	}
	args->argc = argc - optind;
	args->argv = argv + optind;
	/* Options after positional arguments ("init DIR -c CONF"). */
	if (args->argc > 0 && optind < argc) {
		int rest = args->argc;
		char **pos = args->argv;

		args->argc = 0;
		for (int i = 0; i < rest; i++) {
			if (strcmp(pos[i], "-c") == 0 && i + 1 < rest) {
				args->conf_path = pos[++i];
			} else if (strcmp(pos[i], "-j") == 0 && i + 1 < rest) {
				if (!parse_jobs(pos[++i], &args->jobs)) {
					fprintf(stderr,
						"cmkfs: -j takes 1 to 64\n");
					return -EINVAL;
				}
			} else if (strcmp(pos[i], "--json") == 0) {
				args->json = true;
			} else if (strcmp(pos[i], "--plaintext-names") == 0) {
				args->plaintext_names = true;
			} else if (pos[i][0] == '-' && pos[i][1]) {
				fprintf(stderr, "cmkfs: unknown option %s\n",
					pos[i]);
				return -EINVAL;
			} else {
				args->argv[args->argc++] = pos[i];
			}
		}
	}
	return 0;
}

static int load_conf(const char *path, struct cmk_conf *conf)
{
	struct cmk_err err = { 0 };

	if (cmk_conf_load(path, conf, &err) != 0) {
		fail(&err, CMK_EXIT_CONFIG);
		return -1;
	}
	return 0;
}

static int cmd_init(struct cmd_args *args)
{
	char version[CMK_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	int ret;

	if (args->argc != 1) {
		fprintf(stderr, "usage: cmkfs init -c CONF CIPHERDIR\n");
		return CMK_EXIT_USAGE;
	}
	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	ret = cmk_volume_init(&conf, args->argv[0], !args->plaintext_names,
			      version, &err);
	if (ret)
		return fail(&err, exit_for(ret));
	printf("cmkfs: created a volume in %s with key version %s\n",
	       args->argv[0], version);
	return CMK_EXIT_OK;
}

static void hex(char *out, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* Prints one backing file's header; checks which slots the key service's
 * versions unwrap when a keyring is at hand. */
static int info_one(const char *path, struct cmk_keyring *kr)
{
	uint8_t hdr[CMK_HEADER_SIZE];
	struct cmk_header_info info;
	struct cmk_err err = { 0 };
	char idhex[2 * CMK_ID_LEN + 1];
	struct stat st;
	ssize_t got;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		fprintf(stderr, "cmkfs: %s: %s\n", path, strerror(errno));
		return CMK_EXIT_VOLUME;
	}
	got = pread(fd, hdr, sizeof(hdr), 0);
	ret = got < 0 ? -errno : 0;
	if (ret == 0 && fstat(fd, &st) != 0)
		ret = -errno;
	close(fd);
	if (ret) {
		fprintf(stderr, "cmkfs: %s: %s\n", path, strerror(-ret));
		return CMK_EXIT_VOLUME;
	}
	ret = cmk_header_parse(hdr, (size_t)got, &info, &err);
	if (ret && info.format_version == 0) {
		fprintf(stderr, "cmkfs: %s: %s\n", path, err.msg);
		return CMK_EXIT_VOLUME;
	}
	printf("%s:\n", path);
	printf("  format:         cmkfs %u, cipher suite %u (AES-256-XTS data, "
	       "AES-256-GCM key wrap), unit %u, header %u\n",
	       info.format_version, info.suite, info.unit_size,
	       info.header_size);
	hex(idhex, info.volume_id, CMK_ID_LEN);
	printf("  volume id:      %s\n", idhex);
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
			printf("  slot %d:         sequence %llu, CMK version %s%s\n",
			       i, (unsigned long long)slot->seq,
			       slot->cmk_version,
			       i == info.active ? " (active)" : "");
	}
	if (ret) {
		printf("  status:         unreadable: %s\n", err.msg);
		return CMK_EXIT_VOLUME;
	}
	if (kr) {
		uint8_t *dek = cmk_secure_alloc(CMK_KEY_LEN);
		int slot_used = -1;

		ret = dek ? cmk_keyring_unwrap(kr, hdr, &info, dek, &slot_used,
					       &err)
			  : -ENOMEM;
		cmk_secure_free(dek, CMK_KEY_LEN);
		if (ret == 0) {
			printf("  key:            slot %d unwraps with CMK "
			       "version %s\n",
			       slot_used, info.slots[slot_used].cmk_version);
		} else {
			printf("  key:            does not unwrap: %s\n",
			       err.msg);
			return exit_for(ret);
		}
	}
	return CMK_EXIT_OK;
}

/* The volume a plaintext path points into: the nearest directory above
 * path that holds a volume descriptor. Splits path into that directory
 * (cipherdir) and the rest (plain). false when there is none. */
static bool split_plain_path(const char *path, char *cipherdir, size_t size,
			     const char **plain)
{
	char probe[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(probe) || len >= size)
		return false;
	memcpy(cipherdir, path, len + 1);
	while (len > 0) {
		char *slash = strrchr(cipherdir, '/');

		if (!slash)
			return false;
		*slash = '\0';
		len = (size_t)(slash - cipherdir);
		snprintf(probe, sizeof(probe), "%s/%s",
			 len ? cipherdir : "", CMK_VOLUME_FILE);
		if (access(probe, F_OK) == 0) {
			if (!len)
				snprintf(cipherdir, size, "/");
			*plain = path + len + 1;
			return true;
		}
	}
	return false;
}

/* `cmkfs path -c CONF CIPHERDIR PLAINPATH`. */
static int cmd_path(struct cmd_args *args)
{
	struct cmk_volume *vol = NULL;
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	char out[PATH_MAX];
	int ret;

	if (args->argc != 2) {
		fprintf(stderr, "usage: cmkfs path -c CONF CIPHERDIR "
				"PLAINPATH\n");
		return CMK_EXIT_USAGE;
	}
	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	ret = cmk_volume_open(&conf, args->argv[0], &vol, &err);
	if (ret == 0)
		ret = cmk_volume_backing_path(vol, args->argv[1], out,
					      sizeof(out), &err);
	cmk_volume_close(vol);
	if (ret == -EINVAL || ret == -ENAMETOOLONG)
		return fail(&err, CMK_EXIT_USAGE);
	if (ret)
		return fail(&err, exit_for_volume_cmd(ret));
	printf("%s/%s\n", args->argv[0], out);
	return CMK_EXIT_OK;
}

static int cmd_info(struct cmd_args *args)
{
	struct cmk_keyring *kr = NULL;
	struct cmk_kms *kms = NULL;
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	int status = CMK_EXIT_OK;

	if (args->argc < 1) {
		fprintf(stderr, "usage: cmkfs info -c CONF BACKINGFILE...\n");
		return CMK_EXIT_USAGE;
	}
	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	/* Without the key service the header is still worth showing. */
	if (cmk_kms_open(&conf, &kms, &err) != 0 || cmk_keyring_new(&kr) != 0 ||
	    cmk_volume_load_keyring(kms, kr, &err) != 0) {
		fprintf(stderr, "cmkfs: warning: keys not checked: %s\n",
			err.msg);
		cmk_keyring_free(kr);
		kr = NULL;
	}
	for (int i = 0; i < args->argc; i++) {
		char cipherdir[PATH_MAX], backing[PATH_MAX], rel[PATH_MAX];
		const char *path = args->argv[i], *plain = NULL;
		struct cmk_volume *vol = NULL;
		int rc;

		/* Not a backing file: a plaintext path into a volume. */
		if (access(path, F_OK) != 0 &&
		    split_plain_path(path, cipherdir, sizeof(cipherdir),
				     &plain)) {
			rc = cmk_volume_open(&conf, cipherdir, &vol, &err);
			if (rc == 0)
				rc = cmk_volume_backing_path(vol, plain, rel,
							     sizeof(rel), &err);
			cmk_volume_close(vol);
			if (rc) {
				status = fail(&err, exit_for_volume_cmd(rc));
				continue;
			}
			if (snprintf(backing, sizeof(backing), "%s/%s",
				     cipherdir, rel) >= (int)sizeof(backing)) {
				fprintf(stderr, "cmkfs: %s: path too long\n",
					path);
				status = CMK_EXIT_USAGE;
				continue;
			}
			printf("%s is %s\n", path, backing);
			path = backing;
		}
		rc = info_one(path, kr);
		if (rc != CMK_EXIT_OK)
			status = rc;
	}
	cmk_keyring_free(kr);
	cmk_kms_close(kms);
	return status;
}

static int cmd_key(struct cmd_args *args)
{
	char version[CMK_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	const char *sub;
	int ret;

	if (args->argc < 1) {
		fprintf(stderr, "usage: cmkfs key create|rotate|list|"
				"disable VERSION|enable VERSION -c CONF\n");
		return CMK_EXIT_USAGE;
	}
	sub = args->argv[0];
	bool needs_version = !strcmp(sub, "disable") || !strcmp(sub, "enable");
	if ((needs_version && args->argc != 2) ||
	    (!needs_version && args->argc != 1)) {
		fprintf(stderr, "usage: cmkfs key %s%s -c CONF\n", sub,
			needs_version ? " VERSION" : "");
		return CMK_EXIT_USAGE;
	}
	if (strcmp(sub, "create") && strcmp(sub, "rotate") &&
	    strcmp(sub, "list") && !needs_version) {
		fprintf(stderr, "cmkfs: unknown key command '%s'\n", sub);
		return CMK_EXIT_USAGE;
	}
	if (load_conf(args->conf_path, &conf))
		return CMK_EXIT_CONFIG;
	if (conf.provider != CMK_PROVIDER_FILE && strcmp(sub, "list") != 0) {
		fprintf(stderr, "cmkfs: key %s works on the local keystore only; "
				"manage this key in its key service\n",
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
			       "use it from the next mount\n",
			       conf.file.key_name, version);
	} else if (needs_version) {
		bool enable = !strcmp(sub, "enable");

		ret = cmk_keystore_set_enabled(&conf, args->argv[1], enable,
					       &err);
		if (ret == 0)
			printf("cmkfs: key '%s' version %s %s\n",
			       conf.file.key_name, args->argv[1],
			       enable ? "enabled" : "disabled");
	} else {
		struct cmk_kms_version *versions = NULL;
		struct cmk_kms *kms = NULL;
		size_t count = 0;

		ret = cmk_kms_open(&conf, &kms, &err);
		if (ret == 0)
			ret = cmk_kms_list_versions(kms, &versions, &count,
						    &err);
		if (ret == 0) {
			printf("key '%s':\n", cmk_kms_key_name(kms));
			printf("%-36s %-9s %s\n", "VERSION", "STATE",
			       "CREATED");
			for (size_t i = 0; i < count; i++) {
				char when[32] = "-";
				time_t t = (time_t)versions[i].created;
				struct tm tm;

				if (t && gmtime_r(&t, &tm))
					strftime(when, sizeof(when),
						 "%Y-%m-%dT%H:%M:%SZ", &tm);
				printf("%-36s %-9s %s\n", versions[i].id,
				       versions[i].enabled ? "enabled"
							   : "disabled",
				       when);
			}
		}
		free(versions);
		cmk_kms_close(kms);
	}
	if (ret)
		return fail(&err, ret == -EEXIST || ret == -ENOENT
					  ? CMK_EXIT_KMS
					  : exit_for(ret) == CMK_EXIT_FAILURE
						    ? CMK_EXIT_KMS
						    : exit_for(ret));
	return CMK_EXIT_OK;
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
	struct cmk_err err = { 0 };
	struct cmd_args args;
	const char *cmd;
	int ret;

	harden_process();
	/* mount sets up its locked key memory in the daemon process itself. */
	if (argc >= 2 && !strcmp(argv[1], "mount"))
		return cmk_mount_main(argc - 1, argv + 1);
	struct stat st;
	if (argc >= 3 && argv[1][0] != '-' && stat(argv[1], &st) == 0 &&
	    S_ISDIR(st.st_mode))
		return cmk_mount_main(argc, argv);

	ret = cmk_crypto_init(&err);
	if (ret < 0)
		return fail(&err, CMK_EXIT_FAILURE);
	if (ret > 0)
		cmk_log(LOG_WARNING, "%s", err.msg);
	cmk_kms_global_init();

	if (argc < 2) {
		usage(stderr);
		return CMK_EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "help")) {
		usage(stdout);
		return CMK_EXIT_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		print_version();
		return CMK_EXIT_OK;
	}
	if (parse_args(argc - 1, argv + 1, &args) != 0) {
		usage(stderr);
		return CMK_EXIT_USAGE;
	}
	if (!strcmp(cmd, "init"))
		return cmd_init(&args);
	if (!strcmp(cmd, "info"))
		return cmd_info(&args);
	if (!strcmp(cmd, "key"))
		return cmd_key(&args);
	if (!strcmp(cmd, "path"))
		return cmd_path(&args);
	if (!strcmp(cmd, "rewrap") || !strcmp(cmd, "status")) {
		struct cmk_conf conf;

		if (args.argc != 1) {
			fprintf(stderr, "usage: cmkfs %s %s-c CONF CIPHERDIR\n",
				cmd, cmd[0] == 'r' ? "[-j JOBS] " : "[--json] ");
			return CMK_EXIT_USAGE;
		}
		if (load_conf(args.conf_path, &conf))
			return CMK_EXIT_CONFIG;
		if (cmd[0] == 'r')
			return cmk_cmd_rewrap(&conf, args.argv[0], args.jobs,
					      exit_for_volume_cmd);
		return cmk_cmd_status(&conf, args.argv[0], args.jobs,
				      args.json, exit_for_volume_cmd);
	}
	fprintf(stderr, "cmkfs: unknown command '%s'\n", cmd);
	usage(stderr);
	return CMK_EXIT_USAGE;
}
