# SPDX-License-Identifier: MIT
"""System calls for test_fs_users.sh, run as root or (through setpriv) as
an unprivileged user, against a cmkfs mount and a plain directory alike.

Usage: users_helper.py OP ARGS... [+ OP ARGS...]...

Each operation prints one line, "OP RESULT", where RESULT is "ok", a value,
or the errno name of the failing call. The lines never hold a path, so the
output for the mount and for the reference directory must be the same.
Modes are octal, uids and gids decimal (-1 keeps one), times are integer
nanoseconds since the epoch. The exit status is 0 unless the helper itself
broke (a Python exception other than OSError).
"""
import errno
import os
import random
import socket
import stat
import sys

TYPES = {stat.S_IFREG: "reg", stat.S_IFDIR: "dir", stat.S_IFLNK: "lnk",
         stat.S_IFIFO: "fifo", stat.S_IFSOCK: "sock", stat.S_IFCHR: "chr",
         stat.S_IFBLK: "blk"}
MKNOD_TYPES = {"reg": stat.S_IFREG, "fifo": stat.S_IFIFO,
               "sock": stat.S_IFSOCK, "chr": stat.S_IFCHR}


def errname(e):
    if e == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return errno.errorcode.get(e, str(e))


def describe(st):
    """The stat fields that must match: type, mode bits, owner, links,
    and the size where it means something (files and symlinks)."""
    kind = TYPES.get(stat.S_IFMT(st.st_mode), "?")
    out = f"{kind} {stat.S_IMODE(st.st_mode):04o} {st.st_uid}:{st.st_gid} n{st.st_nlink}"
    if kind in ("reg", "lnk"):
        out += f" s{st.st_size}"
    if kind in ("chr", "blk"):
        out += f" r{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
    return out


def octal(s):
    return int(s, 8)


def op_umask(mask):
    os.umask(octal(mask))


def op_creat(path, mode):
    """open(O_CREAT|O_EXCL) and close."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, octal(mode)))


def op_opencreat(path, mode):
    """open(O_CREAT|O_WRONLY) without O_EXCL (the name may exist)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, octal(mode)))


def op_mknod(path, kind, mode, major="0", minor="0"):
    os.mknod(path, MKNOD_TYPES[kind] | octal(mode),
             os.makedev(int(major), int(minor)))


def op_mkfifo(path, mode):
    os.mkfifo(path, octal(mode))


def op_mkdir(path, mode):
    os.mkdir(path, octal(mode))


def op_symlink(target, path):
    os.symlink(target, path)


def op_link(src, dst):
    os.link(src, dst, follow_symlinks=False)


def op_stat(path):
    return describe(os.lstat(path))


def op_statf(path):
    """stat following symlinks."""
    return describe(os.stat(path))


def op_read(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace") or "(empty)"


def op_readnoatime(path):
    """open(O_RDONLY|O_NOATIME): only for the owner (or root)."""
    os.close(os.open(path, os.O_RDONLY | os.O_NOATIME))


def op_write(path, data):
    """Overwrites from offset 0 through open(O_WRONLY) without truncating."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def op_pwrite(path, off, data):
    """open(O_WRONLY), pwrite at off (data "-": standard input), close."""
    b = sys.stdin.buffer.read() if data == "-" else data.encode()
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b, int(off))
    finally:
        os.close(fd)


def op_sha(path):
    """Size and SHA-256 prefix of the content."""
    with open(path, "rb") as f:
        b = f.read()
    return f"{len(b)} {hash_of(b)}"


def op_append(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def op_otrunc(path):
    os.close(os.open(path, os.O_WRONLY | os.O_TRUNC))


def op_trunc(path, size):
    os.truncate(path, int(size))


def op_ftrunc(path, size):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, int(size))
    finally:
        os.close(fd)


def op_unlink(path):
    os.unlink(path)


def op_rmdir(path):
    os.rmdir(path)


def op_rename(src, dst):
    os.rename(src, dst)


def op_chmod(path, mode):
    os.chmod(path, octal(mode))


def op_chown(path, uid, gid):
    os.chown(path, int(uid), int(gid))


def op_lchown(path, uid, gid):
    os.lchown(path, int(uid), int(gid))


def op_utime(path, atime, mtime):
    """utimensat with explicit times, following symlinks."""
    os.utime(path, ns=(int(atime), int(mtime)))


def op_lutime(path, atime, mtime):
    """utimensat(AT_SYMLINK_NOFOLLOW) with explicit times."""
    os.utime(path, ns=(int(atime), int(mtime)), follow_symlinks=False)


def op_utimenow(path):
    """utimensat(times = NULL): both to the current time."""
    os.utime(path)


def op_times(path):
    """atime and mtime of the name itself (lstat)."""
    st = os.lstat(path)
    return f"{st.st_atime_ns} {st.st_mtime_ns}"


def op_mtime(path):
    return str(os.lstat(path).st_mtime_ns)


def op_access(path, how):
    """access(2) (real ids = effective ids here) for some of r, w, x."""
    m = 0
    for c in how:
        m |= {"r": os.R_OK, "w": os.W_OK, "x": os.X_OK}[c]
    return "yes" if os.access(path, m) else "no"


def op_ls(path):
    return " ".join(sorted(os.listdir(path))) or "(empty)"


def op_readlink(path):
    """Length and a checksum-like summary of the target."""
    t = os.readlink(path)
    return f"len{len(os.fsencode(t))} {hash_of(os.fsencode(t))}"


def hash_of(b):
    import hashlib
    return hashlib.sha256(b).hexdigest()[:16]


def long_target(n):
    """A relative symlink target of n bytes (n odd or at least 4): './'
    repeated, ending in 'f' or './/f', so that it resolves to the name f
    next to the link."""
    if n % 2 == 1:
        return "./" * (n // 2) + "f"
    return "./" * (n // 2 - 2) + ".//f"


def op_longlink(path, n):
    """symlink with an n-byte target (see long_target)."""
    os.symlink(long_target(int(n)), path)


def op_checklink(path, n):
    """readlink gives back exactly the n-byte target."""
    t = os.fsencode(os.readlink(path))
    want = long_target(int(n)).encode()
    return "same" if t == want else f"differs: {len(t)} bytes, want {len(want)}"


def op_sock(path):
    """A unix socket bound at path, connected to, one message through it.
    Binds and connects by the name relative to the directory, so that
    sun_path stays short."""
    d, name = os.path.split(path)
    old = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    os.chdir(d or ".")
    try:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(name)
        srv.listen(1)
        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cli.connect(name)
        conn, _ = srv.accept()
        cli.sendall(b"ping")
        got = conn.recv(16)
        for s in (conn, cli, srv):
            s.close()
    finally:
        os.fchdir(old)
        os.close(old)
    return "ok" if got == b"ping" else f"got {got!r}"


def op_connect(path):
    """connect to a unix socket (no server: ECONNREFUSED once allowed)."""
    d, name = os.path.split(path)
    old = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    os.chdir(d or ".")
    try:
        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            cli.connect(name)
        finally:
            cli.close()
    finally:
        os.fchdir(old)
        os.close(old)


def op_fifoio(path):
    """Both ends of a FIFO opened non-blocking in this process, a message
    through it (no second process, so no timing)."""
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, b"through-the-fifo")
    got = os.read(r, 64)
    os.close(w)
    os.close(r)
    return got.decode()


def names_for(kind, prefix_len, total, seed):
    """Directory name lengths and a file name length such that
    prefix/d1/.../dn/file is exactly total bytes."""
    rng = random.Random(seed)
    rem = total - prefix_len  # bytes after the prefix, each with its '/'
    dirs = []
    while rem > 256:
        n = 255 if kind == "255" else rng.choice([1, 2, 17, 100, 128, 200, 254, 255, rng.randint(1, 255)])
        n = min(n, rem - 3)   # leave room for "/x"
        dirs.append(n)
        rem -= n + 1
    return dirs, rem - 1


def make_name(n, i, rng):
    """An n-byte name, with two-byte UTF-8 characters in some."""
    head = f"{i:03d}"[:n]
    body = ""
    while len((head + body).encode()) < n:
        left = n - len((head + body).encode())
        body += "\u00e9" if (left >= 2 and rng.random() < 0.3) else rng.choice("abcdefghijklmnopqrstuvwxyz0123456789._-")
    name = head + body
    assert len(name.encode()) == n, (n, name)
    return name


def op_deep(root, sub, kind):
    """Nested directories under root/sub (root is the mount point or the
    reference) until root-relative paths reach PATH_MAX: a file whose path
    from root is 4095 bytes is created, stat'ed, read and removed by that
    path (the cwd is root); one byte more gives ENAMETOOLONG; descriptors
    reach beyond. Prints a line per step on stdout itself."""
    rng = random.Random(kind)
    os.chdir(root)
    dirs, flen = names_for(kind, len(sub.encode()), 4095, kind)
    names = [make_name(n, i, rng) for i, n in enumerate(dirs)]
    fname = make_name(flen, 999, rng)
    rel = "/".join([sub] + names + [fname])
    relb = rel.encode()
    print(f"deep-{kind} levels {len(names)} file-name {flen} path {len(relb)}")
    fds = [os.open(sub, os.O_RDONLY | os.O_DIRECTORY)]
    for i, n in enumerate(names):
        os.mkdir(n, 0o755, dir_fd=fds[-1])
        fds.append(os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    dirpath = "/".join([sub] + names)
    print("deep dir-stat", attempt(lambda: describe(os.stat(dirpath))))
    print("deep create", attempt(lambda: create_write(rel, b"deepest")))
    print("deep stat", attempt(lambda: describe(os.stat(rel))))
    print("deep read", attempt(lambda: read_path(rel)))
    print("deep access", attempt(lambda: "yes" if os.access(rel, os.R_OK | os.W_OK) else "no"))
    print("deep append", attempt(lambda: append_path(rel, b"+more")))
    print("deep read-at", attempt(lambda: read_at(fds[-1], fname)))
    longer = rel + "x"  # 4096 bytes: no room for the NUL
    print("deep one-more-create", attempt(lambda: create_write(longer, b"x")))
    print("deep one-more-stat", attempt(lambda: describe(os.stat(longer))))
    print("deep one-more-mkdir", attempt(lambda: os.mkdir(longer)))
    print("deep one-more-symlink", attempt(lambda: os.symlink("t", longer)))
    print("deep one-more-rename", attempt(lambda: os.rename(rel, longer)))
    # By descriptor, the depth has no limit: a name relative to the last
    # directory works, and a directory below it too.
    print("deep at-create", attempt(lambda: create_at(fds[-1], "at-file")))
    print("deep at-mkdir", attempt(lambda: os.mkdir("below", 0o700, dir_fd=fds[-1])))
    print("deep below-by-path", attempt(lambda: describe(os.stat(dirpath + "/below"))))
    print("deep at-rename", attempt(lambda: os.rename("at-file", "below/y", src_dir_fd=fds[-1], dst_dir_fd=fds[-1])))
    print("deep at-stat", attempt(lambda: describe(os.stat("below/y", dir_fd=fds[-1]))))
    os.fchdir(fds[-1])
    print("deep getcwd", attempt(lambda: "ok" if os.getcwd() else "empty"))
    print("deep relative-read", attempt(lambda: read_path(fname)))
    os.chdir(root)
    print("deep unlink", attempt(lambda: os.unlink(rel)))
    print("deep stat-gone", attempt(lambda: describe(os.stat(rel))))
    os.unlink("below/y", dir_fd=fds[-1])
    os.rmdir("below", dir_fd=fds[-1])
    for i in range(len(names) - 1, -1, -1):
        os.close(fds[i + 1])
        os.rmdir(names[i], dir_fd=fds[i])
    os.close(fds[0])
    print("deep cleanup", attempt(lambda: "gone" if names[0] not in os.listdir(sub) else "left"))


def attempt(fn):
    try:
        r = fn()
    except OSError as e:
        return errname(e.errno)
    return "ok" if r is None else r


def create_write(path, data):
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
    os.write(fd, data)
    os.close(fd)


def create_at(dfd, name):
    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600, dir_fd=dfd))


def append_path(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, data)
    os.close(fd)


def read_path(path):
    with open(path, "rb") as f:
        return f.read().decode()


def read_at(dfd, name):
    fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
    try:
        return os.read(fd, 100).decode()
    finally:
        os.close(fd)


def main(argv):
    ops, cur = [], []
    for a in argv:
        if a == "+":
            ops.append(cur)
            cur = []
        else:
            cur.append(a)
    ops.append(cur)
    for op in ops:
        if not op:
            continue
        fn = globals().get("op_" + op[0])
        if fn is None:
            print(f"{op[0]} unknown operation")
            return 2
        try:
            r = fn(*op[1:])
        except OSError as e:
            r = errname(e.errno)
        if op[0] != "deep":
            print(op[0], "ok" if r is None else r)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
