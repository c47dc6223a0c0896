/* SPDX-License-Identifier: MIT */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define SYSLOG_SOCKET "/dev/log"
#define LINE_MAX_BYTES 1024

/* Each kind of message: a name for syslog lines and files, and a
 * MESSAGE_ID for the journal (random, fixed forever). */
static const struct {
	const char *name;
	const char *id;
} msgs[CMK_MSG_COUNT] = {
	[CMK_MSG_GENERAL] = { "general", "8a1c2e5d0f7b4e31a9c6d2b7e04f18a3" },
	[CMK_MSG_MOUNTED] = { "mounted", "3f6b9d2a1c8e4f70b5a2d9c16e3b7f04" },
	[CMK_MSG_UNMOUNTED] = { "unmounted",
				"c4e17a9b2d5f4c38a6b1e0d97f2c5a81" },
	[CMK_MSG_SESSION] = { "session-failed",
			      "71d2b8e5a4c94f0e8b3a6c1d5e9f2a47" },
	[CMK_MSG_FILE_UNREADABLE] = { "file-unreadable",
				      "e9a4c7b1d3f24e58a0c6b9d2f5e1a7c3" },
	[CMK_MSG_NAME_SKIPPED] = { "name-skipped",
				   "5b8e2d1f7a3c4b96a2e5d8c0f1b4e7a9" },
	[CMK_MSG_DIRID] = { "dirid-unusable",
			    "a2f5c8e1b4d74a3c9e6b0d2f5a8c1e47" },
	[CMK_MSG_CREATE_FAILED] = { "create-failed",
				    "0d7a3e9c5b1f4e82b6a4c8d1e3f5a9b2" },
	[CMK_MSG_KEY_FETCHED] = { "key-fetched",
				  "6c1e8b4a2d9f4a57b3e0c5d8a1f7b2e6" },
	[CMK_MSG_KEY_REFUSED] = { "key-refused",
				  "b7d4a1e8c2f54b09a8e3d6c1b5f2a4e9" },
	[CMK_MSG_KEY_REVOKED] = { "key-revoked",
				  "2e9c6a3f1b8d4e75a1c4b7e0d3f6a9c2" },
	[CMK_MSG_KEY_NONE_LEFT] = { "key-none-left",
				    "f3a8d5c2e1b74f69b0d3a6e9c2f5b8a1" },
	[CMK_MSG_KMS_UNREACHABLE] = { "kms-unreachable",
				      "9b6e3c0a7d2f4a18b5e8c1d4a7f0b3e6" },
	[CMK_MSG_LIMITS] = { "limits", "4d1a7e4b9c2f4d83a7e2b5c8d1f4a0e7" },
	[CMK_MSG_XATTR_SKIPPED] = { "xattr-skipped",
				    "5c46c62f8eb442f4a54c65c167b43ea7" },
};

static const char *const level_names[] = {
	"emergency", "alert",  "critical", "error",
	"warning",   "notice", "info",	   "debug",
};

static enum cmk_log_target target = CMK_LOG_STDERR;
static int log_level = LOG_INFO;
static int file_fd = -1;
static bool daemon_prefix;

const char *cmk_msg_name(enum cmk_msg msg)
{
	return msg < CMK_MSG_COUNT ? msgs[msg].name : msgs[0].name;
}

/* True when a datagram socket at path accepts a connection: the service
 * behind it runs. */
static bool socket_alive(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ok;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return ok;
}

int cmk_log_open_daemon(const char *logfile, struct cmk_err *err)
{
	daemon_prefix = true;
	if (logfile && logfile[0]) {
		struct stat st;

		file_fd = open(logfile,
			       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				       O_NOFOLLOW | O_NONBLOCK,
			       0600);
		if (file_fd < 0)
			return cmk_err_set(err, -errno, "logfile %s: %s",
					   logfile, strerror(errno));
		if (fstat(file_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(file_fd);
			file_fd = -1;
			return cmk_err_set(err, -EINVAL,
					   "logfile %s: not a regular file",
					   logfile);
		}
		target = CMK_LOG_FILE;
	} else if (socket_alive(JOURNAL_SOCKET)) {
		target = CMK_LOG_JOURNAL;
	} else if (socket_alive(SYSLOG_SOCKET)) {
		openlog("cmkfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		target = CMK_LOG_SYSLOG;
	} else {
		target = CMK_LOG_STDERR;
	}
	return 0;
}

enum cmk_log_target cmk_log_target(void)
{
	return target;
}

const char *cmk_log_target_name(void)
{
	switch (target) {
	case CMK_LOG_JOURNAL:
		return "the journal";
	case CMK_LOG_SYSLOG:
		return "syslog";
	case CMK_LOG_FILE:
		return "the log file";
	default:
		return "stderr";
	}
}

void cmk_log_set_level(int level)
{
	log_level = level;
}

void cmk_log_set_daemon_prefix(bool on)
{
	daemon_prefix = on;
}

/* One line to a descriptor, written whole (short lines are atomic on
 * pipes and O_APPEND files, so threads do not interleave). */
static void write_line(int fd, int level, enum cmk_msg msg, const char *text)
{
	char line[LINE_MAX_BYTES + 160], stamp[32] = "";
	int len;

	if (target == CMK_LOG_FILE) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	if (daemon_prefix)
		len = snprintf(line, sizeof(line),
			       "%scmkfs[%ld]: %s: %s [%s]\n", stamp,
			       (long)getpid(), level_names[level & 7], text,
			       cmk_msg_name(msg));
	else
		len = snprintf(line, sizeof(line), "cmkfs: %s: %s\n",
			       level_names[level & 7], text);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(line))
		len = (int)sizeof(line) - 1;
	if (write(fd, line, (size_t)len) < 0) {
		/* Nowhere left to say it. */
	}
}

void cmk_log(int level, enum cmk_msg msg, const char *fmt, ...)
{
	char raw[LINE_MAX_BYTES], text[LINE_MAX_BYTES];
	va_list ap;
	int saved = errno;

	if (level > log_level)
		return;
	if (msg >= CMK_MSG_COUNT)
		msg = CMK_MSG_GENERAL;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	cmk_printable(raw, text, sizeof(text));
	switch (target) {
	case CMK_LOG_JOURNAL:
		if (sd_journal_send(
			    "MESSAGE=%s", text, "PRIORITY=%d", level & 7,
			    "MESSAGE_ID=%s", msgs[msg].id, "CMKFS_MESSAGE=%s",
			    msgs[msg].name, "SYSLOG_IDENTIFIER=cmkfs",
			    "SYSLOG_FACILITY=%d", LOG_DAEMON >> 3, NULL) < 0)
			write_line(STDERR_FILENO, level, msg, text);
		break;
	case CMK_LOG_SYSLOG:
		syslog(level, "%s [%s]", text, msgs[msg].name);
		break;
	case CMK_LOG_FILE:
		write_line(file_fd, level, msg, text);
		break;
	default:
		write_line(STDERR_FILENO, level, msg, text);
		break;
	}
	errno = saved;
}
