#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pty_answer.py ANSWER... -- COMMAND...: runs COMMAND on a new
pseudo-terminal (its controlling terminal) and types the next ANSWER each
time it prints a prompt ending in ": ", only once the prompt is there (a
program that turns echo off flushes what was typed before). Prints what
the terminal showed; exits with COMMAND's status. Waits for conditions
only: no timing."""
import os
import pty
import sys


def main():
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit("usage: pty_answer.py ANSWER... -- COMMAND...")
    answers = args[:args.index("--")]
    command = args[args.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    shown = b""
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        pending += chunk
        if pending.rstrip(b" ").endswith(b":") and pending.endswith(b" "):
            pending = b""
            if answers:
                os.write(fd, answers.pop(0).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(shown.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status) & 0xff)


main()
