/* SPDX-License-Identifier: MIT */
/* Logging. Commands log to stderr. A mount's daemon logs to the journal
 * (native protocol: PRIORITY, MESSAGE_ID and CMKFS_MESSAGE fields) when
 * journald runs, else to syslog, else to the stderr it was started with,
 * or to the file -o logfile= names; so messages never vanish, and each
 * kind of message carries a stable id that journald and rsyslog filters
 * can match. Non-printable bytes are escaped. Never pass key material or
 * file contents to these functions. */
#ifndef CMKFS_COMMON_LOG_H
#define CMKFS_COMMON_LOG_H

#include <stdbool.h>
#include <syslog.h>

#include "common/err.h"

/* Kinds of messages; their ids (docs: cmkfs(8), LOGGING) never change. */
enum cmk_msg {
	CMK_MSG_GENERAL = 0,	 /* debug lines and the rest */
	CMK_MSG_MOUNTED,	 /* mounted ... */
	CMK_MSG_UNMOUNTED,	 /* unmounted ... */
	CMK_MSG_SESSION,	 /* the FUSE session failed */
	CMK_MSG_FILE_UNREADABLE, /* a backing file gives EIO: why */
	CMK_MSG_NAME_SKIPPED,	 /* a backing entry left out of a listing */
	CMK_MSG_DIRID,		 /* a directory without a usable id */
	CMK_MSG_CREATE_FAILED,	 /* a create that could not be done */
	CMK_MSG_KEY_FETCHED,	 /* a key version fetched or held again */
	CMK_MSG_KEY_REFUSED,	 /* the key service refused a version */
	CMK_MSG_KEY_REVOKED,	 /* versions wiped: their files give EACCES */
	CMK_MSG_KEY_NONE_LEFT,	 /* no enabled version left */
	CMK_MSG_KMS_UNREACHABLE, /* the key service could not be asked */
	CMK_MSG_LIMITS,		 /* descriptor limits and running out */
	CMK_MSG_XATTR_SKIPPED,	 /* an extended attribute that does not open */
	CMK_MSG_COUNT,
};

enum cmk_log_target {
	CMK_LOG_STDERR,
	CMK_LOG_JOURNAL,
	CMK_LOG_SYSLOG,
	CMK_LOG_FILE,
};

/* For a daemon: logfile when given (appended, created 0600), else the
 * journal, syslog or stderr, the first that is there. The stderr of the
 * process is then what a daemon must keep open (see cmk_log_target()).
 * 0 or -errno (logfile cannot be opened: err says why). */
int cmk_log_open_daemon(const char *logfile, struct cmk_err *err);
enum cmk_log_target cmk_log_target(void);
/* Where a daemon's lines go, for the line saying so at mount time. */
const char *cmk_log_target_name(void);
/* Messages above this level (LOG_DEBUG > LOG_INFO > ...) are dropped. */
void cmk_log_set_level(int level);
/* "cmkfs[PID]: " in front of stderr lines (a daemon in the foreground). */
void cmk_log_set_daemon_prefix(bool on);

void cmk_log(int level, enum cmk_msg msg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The stable name of a kind of message ("file-unreadable"). */
const char *cmk_msg_name(enum cmk_msg msg);

#endif
