# SPDX-License-Identifier: MIT
"""System calls the shell tools lack, for test_fs_posix.sh.

Usage: fs_helper.py COMMAND ARGS...  Each command prints "ok" or the errno
name of the failing call (and details on a mismatch), and exits 0 only when
every check it made held; "errno" commands exit 0 and print the errno name,
so the caller decides what is acceptable.
"""
import ctypes
import errno
import os
import random
import stat
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                           ctypes.c_int64]
AT_FDCWD = -100
RENAME_FLAGS = {"none": 0, "noreplace": 1, "exchange": 2}
FALLOC_FL_KEEP_SIZE = 1


def errname(e):
    if e == errno.EOPNOTSUPP:  # the same number as ENOTSUP on Linux
        return "EOPNOTSUPP"
    return errno.errorcode.get(e, str(e))


def fail(msg):
    print(msg)
    sys.exit(1)


def read_all(path):
    """Reads a file through a new descriptor (the kernel drops its cached
    pages of a FUSE file on open, so this reads what the file system has)."""
    with open(path, "rb") as f:
        return f.read()


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


def cmd_append(path, *sizes):
    """Appends pieces through one O_APPEND descriptor, seeking to 0 before
    each write (O_APPEND must win), and through a second O_APPEND
    descriptor in turn; checks the content after each write."""
    want = read_all(path)
    fd1 = os.open(path, os.O_WRONLY | os.O_APPEND)
    fd2 = os.open(path, os.O_RDWR | os.O_APPEND)
    for i, n in enumerate(int(s) for s in sizes):
        data = pattern(n, i)
        fd = fd1 if i % 2 == 0 else fd2
        os.lseek(fd, 0, os.SEEK_SET)
        if os.write(fd, data) != n:
            fail(f"short append of {n} bytes")
        want += data
        if os.fstat(fd).st_size != len(want):
            fail(f"size {os.fstat(fd).st_size} after append {i}, want {len(want)}")
        got = read_all(path)
        if got != want:
            fail(f"content differs after append {i} ({n} bytes): {len(got)} bytes, want {len(want)}")
    os.close(fd1)
    os.close(fd2)
    print("ok")


def cmd_open_trunc(path, newsize):
    """O_TRUNC of an existing file, then a write of newsize bytes."""
    fd = os.open(path, os.O_RDWR | os.O_TRUNC)
    if os.fstat(fd).st_size != 0:
        fail(f"size {os.fstat(fd).st_size} after O_TRUNC")
    data = pattern(int(newsize), 7)
    os.write(fd, data)
    os.close(fd)
    got = read_all(path)
    if got != data:
        fail(f"content after O_TRUNC and write: {len(got)} bytes, want {len(data)}")
    print("ok")


def cmd_excl(path):
    """errno: O_CREAT|O_EXCL."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except OSError as e:
        print(errname(e.errno))
        return
    os.write(fd, b"excl")
    os.close(fd)
    print("ok")


def cmd_rename2(old, new, flag):
    """errno: renameat2(old, new, flag)."""
    r = libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(),
                       RENAME_FLAGS[flag])
    print("ok" if r == 0 else errname(ctypes.get_errno()))


def cmd_fallocate(path, mode, off, length):
    """errno: fallocate(mode 0 or keep-size)."""
    fd = os.open(path, os.O_RDWR)
    m = FALLOC_FL_KEEP_SIZE if mode == "keep" else 0
    r = libc.fallocate(fd, m, int(off), int(length))
    e = ctypes.get_errno()
    os.close(fd)
    print("ok" if r == 0 else errname(e))


def cmd_fsync(path):
    """Writes, fsync, fdatasync; fsync of the directory."""
    data = pattern(10000, 3)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.fsync(fd)
    os.pwrite(fd, b"synced", 4093)
    os.fdatasync(fd)
    os.close(fd)
    want = data[:4093] + b"synced" + data[4099:]
    if read_all(path) != want:
        fail("content after fsync/fdatasync differs")
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
    print("ok")


def cmd_unlinked(path):
    """An unlinked file stays readable and writable through its handle."""
    data = pattern(9000, 5)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    fd2 = os.open(path, os.O_RDONLY)
    os.unlink(path)
    if os.path.lexists(path):
        fail("the name still exists after unlink")
    if os.pread(fd, 9000, 0) != data:
        fail("read through the handle after unlink differs")
    os.pwrite(fd, b"after-unlink", 4090)
    os.pwrite(fd, b"tail", 12000)
    want = bytearray(data) + bytes(12004 - len(data))
    want[4090:4102] = b"after-unlink"
    want[12000:12004] = b"tail"
    st = os.fstat(fd)
    if st.st_size != 12004:
        fail(f"size through the handle {st.st_size}, want 12004")
    if os.pread(fd, 20000, 0) != bytes(want):
        fail("read back after writes to the unlinked file differs")
    if os.pread(fd2, 20000, 0) != bytes(want):
        fail("second handle of the unlinked file reads other content")
    os.ftruncate(fd, 4097)
    if os.pread(fd2, 20000, 0) != bytes(want[:4097]):
        fail("content after ftruncate of the unlinked file differs")
    os.close(fd)
    os.close(fd2)
    print("ok")


def cmd_links(a, b):
    """Two names of one file: writes through either are seen through the
    other, through descriptors opened before the writes."""
    fa = os.open(a, os.O_RDWR)
    fb = os.open(b, os.O_RDWR)
    want = bytearray(read_all(a))
    for i, (off, n) in enumerate([(0, 10), (4090, 12), (len(want), 5000),
                                  (20000, 3)]):
        data = pattern(n, 100 + i)
        os.pwrite(fa if i % 2 == 0 else fb, data, off)
        if off + n > len(want):
            want += bytes(off + n - len(want))
        want[off:off + n] = data
        for fd, name in ((fa, a), (fb, b)):
            if os.fstat(fd).st_size != len(want):
                fail(f"write {i}: size {os.fstat(fd).st_size} through {name}, want {len(want)}")
            if os.pread(fd, 30000, 0) != bytes(want):
                fail(f"write {i}: content through {name} differs")
        for name in (a, b):
            if read_all(name) != bytes(want):
                fail(f"write {i}: content of {name} (new descriptor) differs")
    os.close(fa)
    os.close(fb)
    print("ok")


def cmd_truncate_matrix(path):
    """Every size to every size among the unit edges, with ftruncate and
    truncate(2): content is the old prefix, then zeros."""
    sizes = [0, 1, 15, 16, 17, 4095, 4096, 4097, 4111, 4112, 8205]
    for a in sizes:
        for b in sizes:
            data = pattern(a, a * 100000 + b)
            with open(path, "wb") as f:
                f.write(data)
            if (a + b) % 2:
                os.truncate(path, b)
            else:
                fd = os.open(path, os.O_RDWR)
                os.ftruncate(fd, b)
                os.close(fd)
            want = data[:b] + bytes(max(0, b - a))
            if os.stat(path).st_size != b:
                fail(f"{a} -> {b}: size {os.stat(path).st_size}")
            got = read_all(path)
            if got != want:
                first = next((i for i in range(min(len(got), len(want)))
                              if got[i] != want[i]), min(len(got), len(want)))
                fail(f"{a} -> {b}: content differs from byte {first} ({len(got)} bytes)")
    print("ok")


def cmd_xattr(path):
    """user.* extended attributes: set, get, list, replace, remove."""
    os.setxattr(path, "user.cmkfs", b"value-1")
    if os.getxattr(path, "user.cmkfs") != b"value-1":
        fail("getxattr differs")
    os.setxattr(path, "user.other", b"\x00\x01binary")
    names = set(os.listxattr(path))
    if not {"user.cmkfs", "user.other"} <= names:
        fail(f"listxattr: {sorted(names)}")
    try:
        os.setxattr(path, "user.cmkfs", b"x", os.XATTR_CREATE)
        fail("XATTR_CREATE of an existing attribute succeeded")
    except OSError as e:
        if e.errno != errno.EEXIST:
            fail(f"XATTR_CREATE of an existing attribute: {errname(e.errno)}")
    os.setxattr(path, "user.cmkfs", b"value-2", os.XATTR_REPLACE)
    if os.getxattr(path, "user.cmkfs") != b"value-2":
        fail("replaced value differs")
    os.removexattr(path, "user.cmkfs")
    try:
        os.getxattr(path, "user.cmkfs")
        fail("a removed attribute is still there")
    except OSError as e:
        if e.errno != errno.ENODATA:
            fail(f"getxattr of a removed attribute: {errname(e.errno)}")
    if os.getxattr(path, "user.other") != b"\x00\x01binary":
        fail("the other attribute changed")
    print("ok")


def cmd_mknod_reg(path):
    """A regular file made with mknod(2) is a cmkfs file."""
    os.mknod(path, stat.S_IFREG | 0o644)
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_size != 0:
        fail(f"after mknod: mode {st.st_mode:o} size {st.st_size}")
    data = pattern(5000, 9)
    with open(path, "r+b") as f:
        f.write(data)
    if read_all(path) != data:
        fail("content of a file made with mknod differs")
    print("ok")


def main():
    cmds = {name[4:]: fn for name, fn in globals().items()
            if name.startswith("cmd_")}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        fail(f"usage: fs_helper.py {'|'.join(sorted(cmds))} ARGS...")
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except OSError as e:
        fail(f"{sys.argv[1]}: {errname(e.errno)}: {e}")


if __name__ == "__main__":
    main()
