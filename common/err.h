/* SPDX-License-Identifier: MIT */
/* Error reporting shared by every module.
 *
 * Functions return 0 or -errno. When they can say more than the errno, they
 * fill a struct cmk_err (which callers may pass as NULL) with one line that
 * names what was wrong and where. Messages never contain key material. */
#ifndef CMKFS_COMMON_ERR_H
#define CMKFS_COMMON_ERR_H

#include <stddef.h>

#define CMK_ERR_MSG_MAX 512

/* What kind of fault an error is: set once, by the first layer that knows
 * (the configuration, the key service, the volume), and mapped to the
 * command's exit code in one place (fs/cli.c), so that the same fault
 * gives the same code from every command. */
enum cmk_err_cat {
	CMK_CAT_NONE = 0,   /* not known: the errno decides */
	CMK_CAT_USAGE,	    /* the command line */
	CMK_CAT_CONFIG,	    /* the configuration file */
	CMK_CAT_KMS,	    /* the key service or the keystore */
	CMK_CAT_WRONG_KEY,  /* another key, or a wrong passphrase */
	CMK_CAT_VOLUME,	    /* the cipher directory or a backing file */
	CMK_CAT_MOUNTPOINT, /* the mount point */
};

struct cmk_err {
	int code;	      /* the -errno returned with the message */
	enum cmk_err_cat cat; /* CMK_CAT_NONE until a layer sets it */
	char msg[CMK_ERR_MSG_MAX];
};

/* Records a message and returns code (a negative errno), so that callers can
 * write: return cmk_err_set(err, -EINVAL, "...", ...); */
int cmk_err_set(struct cmk_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with more context ("PATH: " + old message). */
int cmk_err_prefix(struct cmk_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void cmk_err_clear(struct cmk_err *err);

/* Gives err its category, unless an inner layer gave it one already;
 * returns code, for "return cmk_err_cat(err, CMK_CAT_KMS, ret);". */
int cmk_err_cat(struct cmk_err *err, enum cmk_err_cat cat, int code);

#ifdef __clang_analyzer__
/* The analyzer sees one file at a time: tell it that these two return their
 * code, or it follows paths on which an error returns 0 (err.c undoes this). */
#define cmk_err_set(err, code, ...)                                   \
	({                                                            \
		int cmk_err_set_code_ = (code);                       \
		(cmk_err_set)((err), cmk_err_set_code_, __VA_ARGS__); \
		cmk_err_set_code_;                                    \
	})
#define cmk_err_cat(err, cat, code)                             \
	({                                                      \
		int cmk_err_cat_code_ = (code);                 \
		(cmk_err_cat)((err), (cat), cmk_err_cat_code_); \
		cmk_err_cat_code_;                              \
	})
#endif

/* Copies the NUL-terminated in to out (size bytes, always terminated),
 * escaping what a terminal or a log would act on: control bytes as \xNN
 * and a backslash as \\. UTF-8 and other bytes >= 0x80 pass. Cut short
 * at a character boundary when out is too small. */
void cmk_printable(const char *in, char *out, size_t size);

#endif
