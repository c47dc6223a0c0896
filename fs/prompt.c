/* SPDX-License-Identifier: MIT */
/* The keystore's passphrase asked on the controlling terminal, echo off:
 * the CLI asks, kms/ receives (cmk_keystore_set_prompt()). */
#include "fs/prompt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "crypto/crypto.h"

/* Reads one line from the terminal into pass (max bytes). */
static int tty_line(int fd, uint8_t *pass, size_t max, size_t *len)
{
	bool too_long = false;
	size_t n = 0;
	char skip;

	for (;;) {
		char *c = n < max ? (char *)pass + n : &skip;
		ssize_t got = read(fd, c, 1);

		if (got < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			return -e;
		}
		if (got == 0 || *c == '\n') {
			*c = '\0';
			break;
		}
		if (c == &skip)
			too_long = true;
		else
			n++;
	}
	cmk_cleanse(&skip, sizeof(skip));
	*len = n;
	return too_long ? -EMSGSIZE : 0;
}

static int tty_ask(int fd, const char *prompt, const char *path, uint8_t *pass,
		   size_t max, size_t *len, struct cmk_err *err)
{
	int ret;

	dprintf(fd, "%s%s: ", prompt, path);
	ret = tty_line(fd, pass, max, len);
	if (ret == -EMSGSIZE)
		return cmk_err_set(err, -EINVAL,
				   "%s: passphrase longer than %zu bytes", path,
				   max);
	if (ret)
		return cmk_err_set(err, ret, "%s: reading the passphrase: %s",
				   path, strerror(-ret));
	if (*len == 0)
		return cmk_err_set(err, -EINVAL, "%s: empty passphrase", path);
	return 0;
}

int cmk_prompt_passphrase(const char *path, bool confirm, uint8_t *pass,
			  size_t max, size_t *len, struct cmk_err *err)
{
	struct termios saved, quiet;
	uint8_t *again = NULL;
	size_t again_len = 0;
	sigset_t block, old;
	int fd, ret;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return cmk_err_set(err, -ENXIO,
				   "%s: passphrase_prompt needs a terminal",
				   path);
	if (tcgetattr(fd, &saved) != 0) {
		ret = cmk_err_set(err, -ENXIO,
				  "%s: passphrase_prompt needs a terminal",
				  path);
		goto out_fd;
	}
	/* A signal while echo is off would leave the terminal mute: hold
	 * them until echo is back, then they take effect. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGTSTP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		ret = -errno;
		cmk_err_set(err, ret, "%s: cannot turn off echo: %s", path,
			    strerror(-ret));
		goto out_sig;
	}
	ret = tty_ask(fd, "Passphrase for keystore ", path, pass, max, len,
		      err);
	if (ret == 0 && confirm) {
		again = cmk_secure_alloc(max);
		if (!again)
			ret = cmk_err_set(err, -ENOMEM, "out of locked memory");
		else
			ret = tty_ask(fd, "Repeat the passphrase for keystore ",
				      path, again, max, &again_len, err);
		if (ret == 0 &&
		    (again_len != *len || !cmk_memeq_ct(pass, again, *len)))
			ret = cmk_err_set(err, -EINVAL,
					  "%s: the passphrases do not match",
					  path);
	}
	tcsetattr(fd, TCSAFLUSH, &saved);
out_sig:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
out_fd:
	cmk_secure_free(again, max);
	close(fd);
	return ret;
}
