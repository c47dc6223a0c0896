/* SPDX-License-Identifier: MIT */
/* `cmkfs mount` and the mount.fuse3 form `cmkfs CIPHERDIR MOUNTPOINT -o
 * config=CONF,...`: open the volume (keys and descriptor checked), mount,
 * then go to the background, so that the exit code says whether the mount
 * is up. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "fs/cli.h"
#include "fs/fsops.h"
#include "fs/fuse_front.h"
#include "fs/mount.h"
#include "fs/mountinfo.h"

struct mount_opts {
	const char *conf_path;
	const char *cipherdir;
	const char *mountpoint;
	char cipherdir_buf[PATH_MAX];
	char mountpoint_buf[PATH_MAX];
	bool foreground;
	bool debug;
	bool allow_other;     /* asked for explicitly */
	bool no_allow_other;  /* keep a root mount private */
	bool no_writeback;    /* no kernel writeback cache */
	bool shared;	      /* other hosts mount the volume too */
	bool xattr;	      /* pass extended attributes through */
	bool suid;	      /* honour set-id bits (default: nosuid) */
	bool dev;	      /* honour device files (default: nodev) */
	bool nonempty;	      /* mount over a directory that is not empty */
	const char *logfile;  /* -o logfile=PATH */
	long readahead_kb;    /* the mount's readahead; 0: the kernel's */
	char fuse_opts[4096]; /* passed on to libfuse */
};

static int add_fuse_opt(struct mount_opts *o, const char *opt)
{
	size_t len = strlen(o->fuse_opts);

	if (len + strlen(opt) + 2 > sizeof(o->fuse_opts))
		return -E2BIG;
	snprintf(o->fuse_opts + len, sizeof(o->fuse_opts) - len, "%s%s",
		 len ? "," : "", opt);
	return 0;
}

/* FUSE mounts get the kernel's default readahead, 128 KiB: cold
 * sequential reads then come in 128 KiB requests. 1 MiB (the largest
 * request, as for writes) made them 35-45% faster here. Needs root; a
 * failure only costs speed. The kernel sets the readahead when it reads
 * our answer to INIT, so this runs on the first request after it. */
void fs_set_readahead(const char *mountpoint, long kb)
{
	unsigned major = 0, minor = 0;
	char path[64], value[32];
	int fd, len;

	if (kb == 0 || cmk_mountinfo_dev(mountpoint, &major, &minor) != 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major, minor);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	len = snprintf(value, sizeof(value), "%ld", kb);
	if (fd < 0 || write(fd, value, (size_t)len) != len)
		cmk_log(LOG_DEBUG, CMK_MSG_GENERAL,
			"cannot set the readahead of %s: %s", mountpoint,
			strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* mount.fuse3 appends "dev" and "suid" to the options it passes on,
 * unless "nodev" or "nosuid" is among them, so that in the fstab form
 * they would mean nothing. That tail is dropped: what remains is what the
 * operator wrote. (mount(8) itself passes no "suid" or "dev" it was
 * given; allow_suid and allow_dev get through.) */
static void drop_mount_fuse_tail(char *list)
{
	bool nodev = false, nosuid = false;
	char tail[16] = "", copy[4096];
	size_t len = strlen(list), tlen;
	char *save = NULL;

	if (len >= sizeof(copy))
		return;
	strcpy(copy, list);
	for (char *opt = strtok_r(copy, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		nodev |= strcmp(opt, "nodev") == 0;
		nosuid |= strcmp(opt, "nosuid") == 0;
	}
	snprintf(tail, sizeof(tail), "%s%s%s", nodev ? "" : "dev",
		 !nodev && !nosuid ? "," : "", nosuid ? "" : "suid");
	tlen = strlen(tail);
	if (tlen == 0 || len < tlen || strcmp(list + len - tlen, tail) != 0)
		return;
	if (len == tlen)
		list[0] = '\0';
	else if (list[len - tlen - 1] == ',')
		list[len - tlen - 1] = '\0';
}

/* Splits one -o argument; keeps cmkfs's own options, passes the rest. */
static int parse_o(struct mount_opts *o, char *list, bool fstab_form)
{
	char *save = NULL;

	if (fstab_form)
		drop_mount_fuse_tail(list);
	for (char *opt = strtok_r(list, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		if (strncmp(opt, "config=", 7) == 0)
			o->conf_path = opt + 7;
		else if (strcmp(opt, "no_allow_other") == 0)
			o->no_allow_other = true;
		else if (strcmp(opt, "allow_other") == 0)
			o->allow_other = true;
		else if (strcmp(opt, "debug") == 0)
			o->debug = true;
		else if (strcmp(opt, "no_writeback") == 0)
			o->no_writeback = true;
		else if (strcmp(opt, "writeback") == 0)
			o->no_writeback = false;
		else if (strcmp(opt, "shared") == 0)
			o->shared = true;
		else if (strcmp(opt, "xattr") == 0)
			o->xattr = true;
		else if (strcmp(opt, "no_xattr") == 0)
			o->xattr = false;
		else if (strcmp(opt, "suid") == 0 ||
			 strcmp(opt, "allow_suid") == 0)
			o->suid = true;
		else if (strcmp(opt, "nosuid") == 0)
			o->suid = false;
		else if (strcmp(opt, "dev") == 0 ||
			 strcmp(opt, "allow_dev") == 0)
			o->dev = true;
		else if (strcmp(opt, "nodev") == 0)
			o->dev = false;
		else if (strcmp(opt, "nonempty") == 0)
			o->nonempty = true;
		else if (strncmp(opt, "logfile=", 8) == 0 && opt[8] == '/')
			o->logfile = opt + 8;
		else if (strncmp(opt, "logfile=", 8) == 0) {
			fprintf(stderr,
				"cmkfs: mount: -o %s: logfile takes an "
				"absolute path\n",
				opt);
			return -EINVAL;
		} else if (strncmp(opt, "fsname=", 7) == 0 ||
			   strncmp(opt, "subtype=", 8) == 0) {
			fprintf(stderr,
				"cmkfs: mount: -o %s: cmkfs sets the "
				"source and type itself\n",
				opt);
			return -EINVAL;
		} else if (strncmp(opt, "readahead=", 10) == 0) {
			char *end;

			errno = 0;
			o->readahead_kb = strtol(opt + 10, &end, 10);
			if (errno || end == opt + 10 || *end ||
			    o->readahead_kb < 0 || o->readahead_kb > 65536) {
				fprintf(stderr,
					"cmkfs: mount: -o %s: readahead takes a "
					"size in KiB from 0 (the kernel's) to "
					"65536\n",
					opt);
				return -EINVAL;
			}
		} else if (add_fuse_opt(o, opt)) {
			fprintf(stderr, "cmkfs: mount: too many options\n");
			return -E2BIG;
		}
	}
	return 0;
}

static void mount_usage(FILE *out)
{
	fprintf(out,
		"usage: cmkfs mount [-f] [-d] [-o OPTIONS] [-c CONF] CIPHERDIR "
		"MOUNTPOINT\n"
		"       cmkfs CIPHERDIR MOUNTPOINT -o config=CONF[,OPTIONS]\n"
		"\n"
		"Mounts the volume in CIPHERDIR on MOUNTPOINT and returns once "
		"the mount\nis up (exit 0). The second form is how mount(8), "
		"mount.fuse3 and\n/etc/fstab call it (type fuse.cmkfs).\n"
		"\n"
		"  -c, --config CONF  the configuration (default " CMK_CONF_DEFAULT_PATH
		")\n"
		"  -f                 stay in the foreground, log to stderr\n"
		"  -d                 debug log (implies -f)\n"
		"  -o OPTIONS         comma-separated; FUSE's own (ro, noatime, "
		"...) and:\n"
		"     config=CONF        the configuration\n"
		"     no_allow_other     keep a mount made by root private\n"
		"     no_writeback       no kernel writeback cache\n"
		"     shared             other hosts mount the volume too "
		"(no writeback\n"
		"                        cache, no entry or attribute cache, "
		"byte-range locks)\n"
		"     readahead=KB       the mount's readahead (default 1024; 0: "
		"the kernel's)\n"
		"     xattr              encrypted user.* xattrs\n"
		"     suid, dev          honour set-id bits, device files "
		"(default: nosuid,nodev;\n"
		"                        in /etc/fstab allow_suid, allow_dev: "
		"mount(8) keeps\n"
		"                        suid and dev to itself)\n"
		"     nonempty           mount over a directory that is not "
		"empty\n"
		"     logfile=PATH       log to PATH (default: the journal, "
		"syslog or stderr)\n"
		"  -h, --help         this text\n");
}

/* One line saying what was wrong and a hint, as every command does. */
static int mount_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "cmkfs: mount: %s%s%s%s\nTry 'cmkfs mount --help'.\n",
		what, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	return -EINVAL;
}

static int parse_mount_args(int argc, char **argv, struct mount_opts *o,
			    bool fstab_form)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pos[2];
	int npos = 0, opt;

	memset(o, 0, sizeof(*o));
	o->conf_path = CMK_CONF_DEFAULT_PATH;
	o->readahead_kb = 1024;
	optind = 1;
	opterr = 0;
	/* "-" in front: positional arguments come back as opt 1, in order,
	 * wherever they stand among the options. */
	while ((opt = getopt_long(argc, argv, "-:c:fdo:hv", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 1:
			if (npos == 2)
				return mount_usage_error("unexpected operand",
							 optarg);
			pos[npos++] = optarg;
			break;
		case 'c':
			o->conf_path = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'd':
			o->debug = o->foreground = true;
			break;
		case 'o':
			if (parse_o(o, optarg, fstab_form))
				return -EINVAL;
			break;
		case 'v':
			break; /* mount(8)'s verbose flag, passed along */
		case 'h':
			mount_usage(stdout);
			exit(CMK_EXIT_OK);
		case ':':
			return mount_usage_error("option needs a value",
						 argv[optind - 1]);
		default:
			return mount_usage_error("unknown option",
						 argv[optind - 1]);
		}
	}
	if (npos != 2)
		return mount_usage_error(npos ? "missing MOUNTPOINT"
					      : "missing CIPHERDIR and "
						"MOUNTPOINT",
					 NULL);
	/* Absolute paths: the daemon leaves the working directory, and the
	 * unmount at exit needs the mount point's real name. */
	if (!realpath(pos[0], o->cipherdir_buf)) {
		fprintf(stderr, "cmkfs: %s: %s\n", pos[0], strerror(errno));
		return -ENOENT;
	}
	if (!realpath(pos[1], o->mountpoint_buf)) {
		fprintf(stderr, "cmkfs: mount point %s: %s\n", pos[1],
			strerror(errno));
		return -ENOTDIR;
	}
	o->cipherdir = o->cipherdir_buf;
	o->mountpoint = o->mountpoint_buf;
	if (o->debug)
		o->foreground = true;
	return 0;
}

/* True when something is mounted on path (read from mountinfo: a stat
 * of a dead FUSE mount would hang). */
static bool is_mount_point(const char *path)
{
	unsigned major, minor;

	return cmk_mountinfo_dev(path, &major, &minor) == 0;
}

/* The mount point must be a directory, not a mount point already (a
 * second mount would hide the first), and empty unless -o nonempty: files
 * hidden under a mount are easy to lose. Exit code or 0. */
static int check_mountpoint(const struct mount_opts *o)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (is_mount_point(o->mountpoint)) {
		fprintf(stderr,
			"cmkfs: mount point %s is mounted already "
			"(unmount it first)\n",
			o->mountpoint);
		return CMK_EXIT_MOUNTPOINT;
	}
	if (stat(o->mountpoint, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "cmkfs: mount point %s: %s\n", o->mountpoint,
			errno ? strerror(errno) : "not a directory");
		return CMK_EXIT_MOUNTPOINT;
	}
	if (o->nonempty)
		return 0;
	d = opendir(o->mountpoint);
	if (!d) {
		fprintf(stderr, "cmkfs: mount point %s: %s\n", o->mountpoint,
			strerror(errno));
		return CMK_EXIT_MOUNTPOINT;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			break;
	closedir(d);
	if (de) {
		fprintf(stderr,
			"cmkfs: mount point %s is not empty (mount "
			"with -o nonempty to mount over it anyway)\n",
			o->mountpoint);
		return CMK_EXIT_MOUNTPOINT;
	}
	return 0;
}

/* The cipher directory as the mount's source (fsname), with the commas
 * and backslashes that libfuse's option parser would split on escaped. */
static int fsname_opt(const char *cipherdir, char *out, size_t size)
{
	size_t n = (size_t)snprintf(out, size, "fsname=");

	for (const char *c = cipherdir; *c; c++) {
		if (n + 3 >= size)
			return -ENAMETOOLONG;
		if (*c == ',' || *c == '\\')
			out[n++] = '\\';
		out[n++] = *c;
	}
	out[n] = '\0';
	return 0;
}

/* Background mode forks before any key is fetched, because memory locks
 * are not inherited across fork: the child sets up the locked key heap,
 * opens the volume and mounts, then tells the waiting parent the exit code
 * through a pipe. */
static int status_fd = -1;

static void report_status(int status)
{
	unsigned char code = (unsigned char)status;

	if (status_fd < 0)
		return;
	if (write(status_fd, &code, 1) != 1) {
		/* The parent is gone; nothing left to tell. */
	}
	close(status_fd);
	status_fd = -1;
}

static int fork_daemon(void)
{
	unsigned char code;
	int pipefd[2];
	pid_t pid;
	ssize_t n;

	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		perror("cmkfs: pipe");
		return CMK_EXIT_FAILURE;
	}
	pid = fork();
	if (pid < 0) {
		perror("cmkfs: fork");
		return CMK_EXIT_FAILURE;
	}
	if (pid == 0) {
		/* The child keeps the terminal until the mount is up, so that
		 * a passphrase prompt still works; detach_stdio() leaves it. */
		close(pipefd[0]);
		status_fd = pipefd[1];
		return -1;
	}
	close(pipefd[1]);
	do
		n = read(pipefd[0], &code, 1);
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == 1)
		return code;
	/* The child died before reporting: collect its status. */
	int wstatus = 0;
	waitpid(pid, &wstatus, 0);
	fprintf(stderr, "cmkfs: the mount process ended unexpectedly\n");
	return CMK_EXIT_FAILURE;
}

/* Cuts the daemon loose from the terminal once the mount is up. stderr
 * stays when the log goes there: with no journal and no syslog (a
 * container, early boot), it is the only place left. */
static void detach_stdio(bool keep_stderr)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (!keep_stderr)
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (chdir("/") != 0) {
		/* Paths were resolved already; the mount does not care. */
	}
}

static int mount_volume(struct mount_opts *o);

/* The re-check of the key's versions while mounted (recheck_interval). */
struct recheck {
	struct fs_ctx *fs;
	unsigned int interval; /* seconds */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	bool stop;
	bool running;
	pthread_t thread;
};

static void *recheck_main(void *arg)
{
	struct recheck *rc = arg;
	struct cmk_volume *vol = rc->fs->vol;
	char ids[1][CMK_VERSION_MAX + 1];
	bool none_logged = false;
	struct timespec when;
	struct cmk_err err;
	size_t revoked, cut;
	int ret;

	pthread_mutex_lock(&rc->lock);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &when);
		when.tv_sec += rc->interval;
		while (!rc->stop &&
		       pthread_cond_timedwait(&rc->cond, &rc->lock, &when) == 0)
			;
		if (rc->stop)
			break;
		pthread_mutex_unlock(&rc->lock);
		cmk_err_clear(&err);
		ret = cmk_volume_recheck(vol, &revoked, &err);
		if (ret) {
			cmk_log(LOG_WARNING, CMK_MSG_KMS_UNREACHABLE,
				"key service re-check failed; no "
				"key revoked: %s",
				err.msg);
		} else if (revoked) {
			cut = cmk_fs_revoke(rc->fs, fs_fuse_invalidate, rc->fs);
			cmk_log(LOG_WARNING, CMK_MSG_KEY_REVOKED,
				"%zu CMK version%s revoked; %zu open file%s "
				"cut off",
				revoked, revoked == 1 ? "" : "s", cut,
				cut == 1 ? "" : "s");
		}
		if (ret == 0 &&
		    cmk_keyring_versions(vol->keyring, ids, 1) == 0) {
			if (!none_logged)
				cmk_log(LOG_ERR, CMK_MSG_KEY_NONE_LEFT,
					"no enabled CMK version "
					"remains: every open and "
					"create gives EACCES");
			none_logged = true;
		} else if (ret == 0) {
			none_logged = false;
		}
		pthread_mutex_lock(&rc->lock);
	}
	pthread_mutex_unlock(&rc->lock);
	return NULL;
}

static void recheck_start(struct recheck *rc, struct fs_ctx *fs,
			  unsigned int interval)
{
	pthread_condattr_t attr;

	memset(rc, 0, sizeof(*rc));
	rc->fs = fs;
	rc->interval = interval;
	if (interval == 0)
		return;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rc->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&rc->thread, NULL, recheck_main, rc) != 0) {
		cmk_log(LOG_ERR, CMK_MSG_GENERAL,
			"cannot start the key re-check: revocation "
			"takes effect at the next mount only");
		return;
	}
	rc->running = true;
}

static void recheck_stop(struct recheck *rc)
{
	if (!rc->running)
		return;
	pthread_mutex_lock(&rc->lock);
	rc->stop = true;
	pthread_cond_signal(&rc->cond);
	pthread_mutex_unlock(&rc->lock);
	pthread_join(rc->thread, NULL);
	pthread_cond_destroy(&rc->cond);
	pthread_mutex_destroy(&rc->lock);
	rc->running = false;
}

int cmk_mount_main(int argc, char **argv)
{
	struct cmk_err err = { 0 };
	struct mount_opts o;
	int status, ret;

	/* "cmkfs mount ..." or mount.fuse3's "cmkfs CIPHERDIR MNT -o ...". */
	ret = parse_mount_args(argc, argv, &o, strcmp(argv[0], "mount") != 0);
	if (ret == -ENOENT)
		return CMK_EXIT_VOLUME;
	if (ret == -ENOTDIR)
		return CMK_EXIT_MOUNTPOINT;
	if (ret != 0)
		return CMK_EXIT_USAGE;
	status = check_mountpoint(&o);
	if (status)
		return status;
	if (o.debug)
		cmk_log_set_level(LOG_DEBUG);
	if (!o.foreground) {
		status = fork_daemon();
		if (status >= 0)
			return status; /* the parent */
	}
	ret = cmk_crypto_init(&err);
	if (ret < 0) {
		status = cmk_fail(NULL, &err, ret);
		report_status(status);
		return status;
	}
	cmk_kms_global_init();
	status = mount_volume(&o);
	report_status(status);
	return status;
}

/* The daemon raises its soft descriptor limit to the hard one: the limit
 * a service manager gives (systemd: 1024) is far below what a busy mount
 * of many open files may need. Returns the soft limit now in force. */
static rlim_t raise_fd_limit(void)
{
	struct rlimit lim;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
		return 1024;
	was = lim.rlim_cur;
	if (lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
			lim.rlim_cur = was;
	}
	cmk_log(LOG_INFO, CMK_MSG_LIMITS,
		"descriptor limit %llu (soft %llu raised to the hard limit "
		"%llu)",
		(unsigned long long)lim.rlim_cur, (unsigned long long)was,
		(unsigned long long)lim.rlim_max);
	return lim.rlim_cur;
}

/* The daemon's counts, logged on SIGUSR1 (cmkfs(8), LOGGING). */
struct stats_thread {
	struct fs_ctx *fs;
	pthread_t thread;
	bool running;
	bool stop; /* atomic */
};

static void *stats_main(void *arg)
{
	struct stats_thread *st = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0 &&
	       !__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE))
		cmk_fs_log_stats(st->fs);
	return NULL;
}

struct daemon_state {
	struct mount_opts *o;
	struct fs_ctx *fs;
	const struct cmk_conf *conf;
	struct recheck recheck;
	struct stats_thread stats;
	bool mounted;
};

static void on_mounted(void *ctx)
{
	struct daemon_state *ds = ctx;

	ds->mounted = true;
	if (!ds->o->foreground)
		detach_stdio(cmk_log_target() == CMK_LOG_STDERR);
	cmk_log(LOG_INFO, CMK_MSG_MOUNTED,
		"mounted %s on %s (key '%s'); logging to %s", ds->o->cipherdir,
		ds->o->mountpoint, ds->fs->vol->info.cmk_name,
		cmk_log_target_name());
	/* The parent exits 0 only now, with the mount up. */
	report_status(CMK_EXIT_OK);
	recheck_start(&ds->recheck, ds->fs, ds->conf->recheck_interval);
	ds->stats.fs = ds->fs;
	ds->stats.running = pthread_create(&ds->stats.thread, NULL, stats_main,
					   &ds->stats) == 0;
}

static void on_stopping(void *ctx)
{
	struct daemon_state *ds = ctx;

	recheck_stop(&ds->recheck);
	if (ds->stats.running) {
		__atomic_store_n(&ds->stats.stop, true, __ATOMIC_RELEASE);
		pthread_kill(ds->stats.thread, SIGUSR1);
		pthread_join(ds->stats.thread, NULL);
		ds->stats.running = false;
	}
}

static int mount_volume(struct mount_opts *o_in)
{
	struct cmk_err err = { 0 };
	struct mount_opts o = *o_in;
	struct cmk_conf conf;
	struct daemon_state ds = { 0 };
	struct fs_ctx fs;
	char fsname[2 * PATH_MAX + 16], options[sizeof(fsname) + 4096 + 128];
	struct fs_fuse_hooks hooks = { on_mounted, on_stopping, &ds };
	size_t dir_fd_max;
	sigset_t usr1;
	int root_fd = -1, status = CMK_EXIT_FAILURE;
	int ret;

	ret = cmk_conf_load(o.conf_path, &conf, &err);
	if (ret)
		return cmk_fail(NULL, &err, ret);
	/* Where the daemon's lines will go; in the foreground, stderr. */
	if (!o.foreground || o.logfile) {
		ret = cmk_log_open_daemon(o.logfile, &err);
		if (ret)
			return cmk_fail(NULL, &err,
					cmk_err_cat(&err, CMK_CAT_USAGE, ret));
	} else {
		cmk_log_set_daemon_prefix(true);
	}
	memset(&fs, 0, sizeof(fs));
	/* Shared: every open, stat and listing asks the store again (as
	 * NFS's close-to-open), and writes go through at once. */
	fs.shared = o.shared;
	fs.timeout = o.shared ? 0.0 : 1.0;
	fs.debug = o.debug;
	fs.writeback = !o.no_writeback && !o.shared;
	fs.xattr = o.xattr;
	fs.mountpoint = o.mountpoint;
	fs.readahead_kb = o.readahead_kb;
	fs.chown_new = geteuid() == 0;
	/* A quarter of the descriptors for cached directories, at most
	 * 512: the rest is for the files applications open. */
	dir_fd_max = (size_t)(raise_fd_limit() / 4);
	dir_fd_max = dir_fd_max < 16 ? 16 : dir_fd_max > 512 ? 512 : dir_fd_max;
	/* Keys and descriptor first: a wrong key never gets mounted. */
	ret = cmk_volume_open(&conf, o.cipherdir, &fs.vol, &err);
	if (ret)
		return cmk_fail(NULL, &err, ret);
	ret = cmk_volume_check_own(fs.vol, &err);
	if (ret) {
		status = cmk_fail(NULL, &err, ret);
		goto out_volume;
	}
	root_fd = open(o.cipherdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		fprintf(stderr, "cmkfs: %s: %s\n", o.cipherdir,
			strerror(errno));
		status = CMK_EXIT_VOLUME;
		goto out_volume;
	}
	ret = cmk_fs_init(&fs, fs.vol, root_fd, dir_fd_max);
	if (ret) {
		fprintf(stderr, "cmkfs: %s\n", strerror(-ret));
		goto out;
	}
	/* Root mounts serve other users: the kernel enforces permissions
	 * (default_permissions) and others may enter (allow_other). Set-id
	 * bits and device files planted in the backing store mean nothing
	 * unless asked for. The source is the cipher directory. */
	if (fsname_opt(o.cipherdir, fsname, sizeof(fsname)) != 0) {
		fprintf(stderr, "cmkfs: %s: path too long\n", o.cipherdir);
		status = CMK_EXIT_VOLUME;
		goto out;
	}
	snprintf(options, sizeof(options),
		 "%s,subtype=cmkfs,default_permissions,%s,%s%s%s%s", fsname,
		 o.suid ? "suid" : "nosuid", o.dev ? "dev" : "nodev",
		 (o.allow_other || (geteuid() == 0 && !o.no_allow_other))
			 ? ",allow_other"
			 : "",
		 o.fuse_opts[0] ? "," : "", o.fuse_opts);
	cmk_log(LOG_DEBUG, CMK_MSG_GENERAL, "FUSE options: %s", options);
	/* SIGUSR1 is for the statistics thread: blocked in every other. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	/* The kernel already applied the caller's umask to every mode. */
	umask(0);
	ds.o = &o;
	ds.fs = &fs;
	ds.conf = &conf;
	ret = fs_fuse_serve(&fs, o.mountpoint, options, o.debug, &hooks);
	if (ret == -EINVAL)
		status = CMK_EXIT_USAGE; /* libfuse said why */
	else if (ret == -EIO && !ds.mounted)
		fprintf(stderr, "cmkfs: cannot mount %s on %s\n", o.cipherdir,
			o.mountpoint);
	else
		status = ret ? CMK_EXIT_FAILURE : CMK_EXIT_OK;
out:
	cmk_fs_destroy(&fs);
	if (root_fd >= 0)
		close(root_fd);
out_volume:
	/* Keys are wiped here. */
	cmk_volume_close(fs.vol);
	return status;
}
