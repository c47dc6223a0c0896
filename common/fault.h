/* SPDX-License-Identifier: MIT */
/* Fault injection for tests: makes a process die or fail at a named point
 * of a multi-step operation, so that a test can check what a crash or an
 * error at exactly that step leaves behind, whatever the machine's speed.
 *
 * CMKFS_FAULT="POINT:N[:ERRNO][,POINT:N[:ERRNO]...]", read once per
 * process: the Nth time (counted from 1, across threads) the process passes
 * POINT it kills itself with SIGKILL, as kill -9 or the OOM killer would,
 * or, with ERRNO (a name such as EIO or ENOSPC), that pass returns -ERRNO
 * to its caller instead. N may be * with an ERRNO: every pass fails (a
 * store that lacks a call, say). Without the variable every point costs
 * one relaxed load. */
#ifndef CMKFS_COMMON_FAULT_H
#define CMKFS_COMMON_FAULT_H

/* 0, or -errno when an error is injected here (never returns when a crash
 * is). */
int cmk_fault(const char *point);

#endif
