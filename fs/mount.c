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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "common/log.h"
#include "fs/cli.h"
#include "fs/fs.h"

struct mount_opts {
	const char *conf_path;
	const char *cipherdir;
	const char *mountpoint;
	char cipherdir_buf[PATH_MAX];
	char mountpoint_buf[PATH_MAX];
	bool foreground;
	bool debug;
	bool allow_other;    /* asked for explicitly */
	bool no_allow_other; /* keep a root mount private */
	bool no_writeback;   /* no kernel writeback cache */
	bool xattr;	     /* pass extended attributes through */
	long readahead_kb;   /* the mount's readahead; 0: the kernel's */
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

/* The device number of the mount on mountpoint (the last one there), from
 * /proc/self/mountinfo: a stat() of our own mount point would wait for
 * our own answer. 0 or -errno. */
static int mount_dev(const char *mountpoint, unsigned *major, unsigned *minor)
{
	char line[8192], where[PATH_MAX];
	int ret = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char field[4096];
		size_t n = 0;

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; the mount point has
		 * space, tab, newline and backslash as octal escapes. */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min,
			   field) != 3)
			continue;
		for (const char *c = field; *c && n + 1 < sizeof(where); c++) {
			if (c[0] == '\\' && c[1] >= '0' && c[1] <= '3' &&
			    c[2] >= '0' && c[2] <= '7' && c[3] >= '0' &&
			    c[3] <= '7') {
				where[n++] = (char)((c[1] - '0') * 64 +
						    (c[2] - '0') * 8 + c[3] - '0');
				c += 3;
			} else {
				where[n++] = *c;
			}
		}
		where[n] = '\0';
		if (strcmp(where, mountpoint) == 0) {
			*major = maj;
			*minor = min;
			ret = 0;
		}
	}
	fclose(f);
	return ret;
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

	if (kb == 0 || mount_dev(mountpoint, &major, &minor) != 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major, minor);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	len = snprintf(value, sizeof(value), "%ld", kb);
	if (fd < 0 || write(fd, value, (size_t)len) != len)
		cmk_log(LOG_DEBUG, "cannot set the readahead of %s: %s",
			mountpoint, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Splits one -o argument; keeps cmkfs's own options, passes the rest. */
static int parse_o(struct mount_opts *o, char *list)
{
	char *save = NULL;

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
		else if (strcmp(opt, "xattr") == 0)
			o->xattr = true;
		else if (strcmp(opt, "no_xattr") == 0)
			o->xattr = false;
		else if (strncmp(opt, "readahead=", 10) == 0) {
			char *end;

			errno = 0;
			o->readahead_kb = strtol(opt + 10, &end, 10);
			if (errno || end == opt + 10 || *end ||
			    o->readahead_kb < 0 || o->readahead_kb > 65536) {
				fprintf(stderr,
					"cmkfs: -o %s: readahead takes a size "
					"in KiB from 0 (the kernel's) to "
					"65536\n",
					opt);
				return -EINVAL;
			}
		} else if (add_fuse_opt(o, opt))
			return -E2BIG;
	}
	return 0;
}

static void mount_usage(FILE *out)
{
	fprintf(out,
		"usage: cmkfs mount [-f] [-o OPTIONS] -c CONF CIPHERDIR MOUNTPOINT\n"
		"       cmkfs CIPHERDIR MOUNTPOINT -o config=CONF[,OPTIONS]\n"
		"\n"
		"  -f            stay in the foreground, log to stderr\n"
		"  -d            debug log (implies -f)\n"
		"  -o OPTIONS    FUSE mount options (allow_other, ro, ...), and:\n"
		"                config=CONF      the configuration file\n"
		"                no_allow_other   keep a mount made by root private\n"
		"                no_writeback     no kernel writeback cache (writes go\n"
		"                                 to cmkfs as the application makes them)\n"
		"                xattr            extended attributes, stored unencrypted\n"
		"                                 as the backing files' own\n"
		"                readahead=KB     the mount's readahead (default 1024,\n"
		"                                 0: the kernel's 128)\n");
}

static int parse_mount_args(int argc, char **argv, struct mount_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pos[2];
	int npos = 0, opt;

	memset(o, 0, sizeof(*o));
	o->conf_path = CMK_CONF_DEFAULT_PATH;
	o->readahead_kb = 1024;
	optind = 1;
	/* "-" in front: positional arguments come back as opt 1, in order,
	 * wherever they stand among the options. */
	while ((opt = getopt_long(argc, argv, "-c:fdo:h", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 1:
			if (npos == 2) {
				fprintf(stderr,
					"cmkfs: unexpected argument '%s'\n",
					optarg);
				return -EINVAL;
			}
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
			if (parse_o(o, optarg))
				return -EINVAL;
			break;
		case 'h':
			mount_usage(stdout);
			exit(CMK_EXIT_OK);
		default:
			return -EINVAL;
		}
	}
	if (npos != 2)
		return -EINVAL;
	/* Absolute paths: the daemon leaves the working directory, and the
	 * unmount at exit needs the mount point's real name. */
	if (!realpath(pos[0], o->cipherdir_buf) ||
	    !realpath(pos[1], o->mountpoint_buf)) {
		fprintf(stderr, "cmkfs: %s: %s\n",
			realpath(pos[0], o->cipherdir_buf) ? pos[1] : pos[0],
			strerror(errno));
		return -ENOENT;
	}
	o->cipherdir = o->cipherdir_buf;
	o->mountpoint = o->mountpoint_buf;
	if (o->debug)
		o->foreground = true;
	return 0;
}

static int exit_for_volume(int err)
{
	switch (err) {
	case -EKEYREJECTED:
		return CMK_EXIT_WRONG_KEY;
	case -ENOENT:
	case -ENOTDIR:
	case -EBADMSG:
	case -EPROTONOSUPPORT:
	case -EIO:
		return CMK_EXIT_VOLUME;
	default:
		return CMK_EXIT_KMS;
	}
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

/* Cuts the daemon loose from the terminal once the mount is up. */
static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
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
			cmk_log(LOG_WARNING, "key service re-check failed; no "
					     "key revoked: %s",
				err.msg);
		} else if (revoked) {
			cut = fs_revoke_open_files(rc->fs);
			cmk_log(LOG_WARNING,
				"%zu CMK version%s revoked; %zu open file%s "
				"cut off",
				revoked, revoked == 1 ? "" : "s", cut,
				cut == 1 ? "" : "s");
		}
		if (ret == 0 && cmk_keyring_versions(vol->keyring, ids, 1) == 0) {
			if (!none_logged)
				cmk_log(LOG_ERR, "no enabled CMK version "
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
		cmk_log(LOG_ERR, "cannot start the key re-check: revocation "
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

	ret = parse_mount_args(argc, argv, &o);
	if (ret == -ENOENT)
		return CMK_EXIT_VOLUME;
	if (ret != 0) {
		mount_usage(stderr);
		return CMK_EXIT_USAGE;
	}
	if (!o.foreground) {
		status = fork_daemon();
		if (status >= 0)
			return status; /* the parent */
	}
	ret = cmk_crypto_init(&err);
	if (ret < 0) {
		fprintf(stderr, "cmkfs: %s\n", err.msg);
		report_status(CMK_EXIT_FAILURE);
		return CMK_EXIT_FAILURE;
	}
	if (ret > 0)
		cmk_log(LOG_WARNING, "%s", err.msg);
	cmk_kms_global_init();
	status = mount_volume(&o);
	report_status(status);
	return status;
}

static int mount_volume(struct mount_opts *o_in)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop_cfg = NULL;
	struct fuse_session *se = NULL;
	struct cmk_err err = { 0 };
	struct mount_opts o = *o_in;
	struct cmk_conf conf;
	struct recheck recheck = { 0 };
	struct fs_ctx fs;
	char base_opts[256];
	int status = CMK_EXIT_FAILURE;
	int ret;

	ret = cmk_conf_load(o.conf_path, &conf, &err);
	if (ret) {
		fprintf(stderr, "cmkfs: %s\n", err.msg);
		return CMK_EXIT_CONFIG;
	}
	memset(&fs, 0, sizeof(fs));
	fs.timeout = 1.0;
	fs.debug = o.debug;
	fs.writeback = !o.no_writeback;
	fs.xattr = o.xattr;
	fs.mountpoint = o.mountpoint;
	fs.readahead_kb = o.readahead_kb;
	fs.chown_new = geteuid() == 0;
	/* Keys and descriptor first: a wrong key never gets mounted. */
	ret = cmk_volume_open(&conf, o.cipherdir, &fs.vol, &err);
	if (ret) {
		fprintf(stderr, "cmkfs: %s\n", err.msg);
		return exit_for_volume(ret);
	}
	if (fs_table_init(&fs) != 0)
		goto out;
	if (fs.vol->names &&
	    (cmk_name_cache_new(NAME_CACHE_PLAIN_SLOTS, &fs.plain_names) ||
	     cmk_name_cache_new(NAME_CACHE_BACKING_SLOTS, &fs.backing_names)))
		goto out;
	fs.root.fd = open(o.cipherdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (fs.root.fd < 0 || fstat(fs.root.fd, &st) != 0) {
		fprintf(stderr, "cmkfs: %s: %s\n", o.cipherdir,
			strerror(errno));
		status = CMK_EXIT_VOLUME;
		goto out;
	}
	fs.root.ino = st.st_ino;
	fs.root.dev = st.st_dev;
	fs.root.type = S_IFDIR;
	fs.root.nlookup = 2;
	pthread_rwlock_init(&fs.root.data_lock, NULL);
	pthread_mutex_init(&fs.root.open_lock, NULL);

	/* Root mounts serve other users: the kernel enforces permissions
	 * (default_permissions) and others may enter (allow_other). */
	snprintf(base_opts, sizeof(base_opts),
		 "fsname=cmkfs,subtype=cmkfs,default_permissions%s",
		 (o.allow_other || (geteuid() == 0 && !o.no_allow_other))
			 ? ",allow_other"
			 : "");
	if (fuse_opt_add_arg(&args, "cmkfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, base_opts))
		goto out;
	if (o.fuse_opts[0] && (fuse_opt_add_arg(&args, "-o") ||
			       fuse_opt_add_arg(&args, o.fuse_opts)))
		goto out;
	if (o.debug && fuse_opt_add_arg(&args, "-d"))
		goto out;

	/* The kernel already applied the caller's umask to every mode. */
	umask(0);
	se = fuse_session_new(&args, &cmk_fuse_ops, sizeof(cmk_fuse_ops), &fs);
	if (!se) {
		status = CMK_EXIT_USAGE; /* libfuse said why */
		goto out;
	}
	/* A shell starts background jobs with SIGINT ignored, and libfuse
	 * only takes over signals left at their default: reset it, so that
	 * SIGINT unmounts cleanly like SIGTERM. */
	signal(SIGINT, SIG_DFL);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, o.mountpoint) != 0) {
		fprintf(stderr, "cmkfs: cannot mount %s on %s\n", o.cipherdir,
			o.mountpoint);
		goto out_handlers;
	}
	if (!o.foreground) {
		cmk_log_to_syslog(true);
		detach_stdio();
	}
	cmk_log(LOG_INFO, "mounted %s on %s (key '%s')", o.cipherdir,
		o.mountpoint, fs.vol->info.cmk_name);
	/* The parent exits 0 only now, with the mount up. */
	report_status(CMK_EXIT_OK);
	loop_cfg = fuse_loop_cfg_create();
	if (!loop_cfg)
		goto out_unmount;
	fuse_loop_cfg_set_max_threads(loop_cfg, 16);
	fs.session = se;
	recheck_start(&recheck, &fs, conf.recheck_interval);
	ret = fuse_session_loop_mt(se, loop_cfg);
	recheck_stop(&recheck);
	/* libfuse reports the signal that ended the loop as an error; an
	 * unmount or SIGTERM/SIGINT is a clean end. */
	status = ret == 0 || ret == -SIGTERM || ret == -SIGINT ||
			 ret == -SIGHUP || ret == SIGTERM || ret == SIGINT ||
			 ret == SIGHUP
		 ? CMK_EXIT_OK
		 : CMK_EXIT_FAILURE;
	if (status != CMK_EXIT_OK)
		cmk_log(LOG_ERR, "the FUSE session ended with error %d", ret);
	fuse_loop_cfg_destroy(loop_cfg);
out_unmount:
	fuse_session_unmount(se);
	cmk_log(LOG_INFO, "unmounted %s", o.mountpoint);
out_handlers:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	fs_table_destroy(&fs);
	cmk_name_cache_free(fs.plain_names);
	cmk_name_cache_free(fs.backing_names);
	if (fs.root.fd > 0)
		close(fs.root.fd);
	/* Keys are wiped here. */
	cmk_volume_close(fs.vol);
	return status;
}
