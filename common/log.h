/* Logging: stderr in the foreground and for the CLI, syslog for a daemon.
 * Never pass key material or file contents to these functions. */
#ifndef CMKFS_COMMON_LOG_H
#define CMKFS_COMMON_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Switches to syslog (ident "cmkfs") when use_syslog is true. */
void cmk_log_to_syslog(bool use_syslog);
/* Messages above this level (LOG_DEBUG > LOG_INFO > ...) are dropped. */
void cmk_log_set_level(int level);

void cmk_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
