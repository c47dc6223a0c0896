/* SPDX-License-Identifier: MIT */
#include "common/fault.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAULTS_MAX 8
#define POINT_MAX 48

struct fault {
	char point[POINT_MAX];
	unsigned long at;     /* the pass that fails, from 1; 0: every pass */
	int error;	      /* 0: SIGKILL; else the errno returned */
	unsigned long passes; /* atomic */
};

static struct fault faults[FAULTS_MAX];
static size_t n_faults;
static bool armed; /* written once, under the once */
static pthread_once_t faults_once = PTHREAD_ONCE_INIT;

static int errno_named(const char *name)
{
	static const struct {
		const char *name;
		int value;
	} names[] = {
		{ "EIO", EIO },
		{ "ENOSPC", ENOSPC },
		{ "EMFILE", EMFILE },
		{ "ENFILE", ENFILE },
		{ "ENOMEM", ENOMEM },
		{ "EACCES", EACCES },
		{ "EDQUOT", EDQUOT },
		{ "EINTR", EINTR },
		/* What a store without an optional call says (EINVAL for
		 * an unknown renameat2 flag, EOPNOTSUPP for O_TMPFILE). */
		{ "EINVAL", EINVAL },
		{ "EOPNOTSUPP", EOPNOTSUPP },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].value;
	return 0;
}

/* A malformed setting is reported and ignored: a test then fails on what
 * did not happen, rather than a daemon on what did. */
static void faults_parse(void)
{
	const char *spec = getenv("CMKFS_FAULT");
	char buf[512], *save = NULL;

	if (!spec || !*spec)
		return;
	if (strlen(spec) >= sizeof(buf)) {
		fprintf(stderr, "cmkfs: CMKFS_FAULT is too long; ignored\n");
		return;
	}
	strcpy(buf, spec);
	for (char *item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		struct fault *f = &faults[n_faults];
		char *count = strchr(item, ':'), *error, *end;

		if (n_faults == FAULTS_MAX || !count ||
		    (size_t)(count - item) >= POINT_MAX)
			goto bad;
		*count++ = '\0';
		error = strchr(count, ':');
		if (error)
			*error++ = '\0';
		errno = 0;
		if (strcmp(count, "*") == 0) {
			/* Every pass: only as an error (a crash is once). */
			f->at = 0;
			if (!error)
				goto bad;
		} else {
			f->at = strtoul(count, &end, 10);
			if (errno || *end || f->at == 0)
				goto bad;
		}
		f->error = error ? errno_named(error) : 0;
		if (error && !f->error)
			goto bad;
		strcpy(f->point, item);
		n_faults++;
		continue;
bad:
		fprintf(stderr, "cmkfs: CMKFS_FAULT: cannot use '%s'\n", item);
	}
	armed = n_faults > 0;
}

int cmk_fault(const char *point)
{
	const struct fault *fire = NULL;

	pthread_once(&faults_once, faults_parse);
	if (!armed)
		return 0;
	/* Every setting of the point counts this pass, whichever fires. */
	for (size_t i = 0; i < n_faults; i++) {
		struct fault *f = &faults[i];

		unsigned long pass;

		if (strcmp(f->point, point) != 0)
			continue;
		pass = __atomic_add_fetch(&f->passes, 1, __ATOMIC_SEQ_CST);
		if ((f->at == 0 || pass == f->at) && !fire)
			fire = f;
	}
	if (!fire)
		return 0;
	if (fire->error)
		return -fire->error;
	kill(getpid(), SIGKILL);
	pause(); /* SIGKILL cannot be caught: never reached */
	return 0;
}
