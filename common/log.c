#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

static bool log_syslog;
static int log_level = LOG_INFO;

void cmk_log_to_syslog(bool use_syslog)
{
	if (use_syslog && !log_syslog)
		openlog("cmkfs", LOG_PID, LOG_DAEMON);
	log_syslog = use_syslog;
}

void cmk_log_set_level(int level)
{
	log_level = level;
}

void cmk_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {
		"emergency", "alert", "critical", "error",
		"warning",   "notice", "info",    "debug",
	};
	char line[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_syslog)
		syslog(level, "%s", line);
	else
		fprintf(stderr, "cmkfs: %s: %s\n",
			names[level & 7], line);
}
