"""A FUSE filesystem that forgets what was not fsynced: the power-loss disk of the tests.

`python -m tests.powerfs LIVE STORE MOUNT CONTROL` mounts a passthrough of the folder
LIVE at MOUNT. Every write lands in LIVE at once (so reads, mmap and locks behave as
on any disk), but it counts as *durable* only once fsynced:
- a file's data and size become durable on `fsync`/`fdatasync` of that file (copied,
  by 4 KiB page, into STORE/<file id>);
- a name (a created, renamed or removed file or folder) becomes durable on `fsync` of
  the folder that holds it, as on a filesystem that promises no more than POSIX.
A failed fsync is treated as Linux treats it: the pages it should have written are
marked clean, so they are lost at the next power cut even if a later fsync succeeds
(the "fsyncgate" behaviour).

Commands, one line each on the Unix socket CONTROL (answer `ok ...` or `error ...`):
- `cut`: the power goes off. Every operation from now on blocks; LIVE is rebuilt from
  what was durable; blocked operations then fail with EIO. Kill the processes using
  the mount and unmount it; mounting LIVE again is "power back on".
- `fault write EIO|ENOSPC`, `fault fsync EIO|ENOSPC`: that operation fails until `clear`.
- `stall`: writes, fsyncs and namespace changes wait until `clear`.
- `lie`: fsync answers success but makes nothing durable (a disk that lies, or a
  server that skips its fsync): the harness must catch it.
- `clear`: no fault, no stall, no lie.
- `stats`: `ok writes=N fsyncs=N failed=N waiting=N` (waiting: operations held by a stall).

The library is mfusepy (ctypes over the system's libfuse3): nothing to compile, no
development headers, and the usual path-based operations API; see
docs/decisions/0011-power-loss-and-faults.md.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import mfusepy

PAGE = 4096
Entry = tuple[str, int]  # ("f", file id) or ("d", 0)
ERRNOS = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC}


class PowerLossFS(mfusepy.Operations):
    """The passthrough, with the durable state kept beside it."""

    use_ns = True

    def __init__(self, live: Path, store: Path) -> None:
        self.live = live
        self.store = store
        self.mutex = threading.Lock()
        self.next_id = 1
        self.ids: dict[str, int] = {}  # live path (relative, "/"-rooted) → file id
        self.fds: dict[int, int] = {}  # open file handle → file id
        self.dirty: dict[int, set[int]] = {}  # file id → pages written since its fsync
        self.durable: dict[str, dict[str, Entry]] = {}  # folder → its durable names
        self.faults: dict[str, int] = {}
        self.lying = False
        self.flowing = threading.Event()  # cleared while stalled or after a cut
        self.flowing.set()
        self.cut_done = False
        self.counts = {"writes": 0, "fsyncs": 0, "failed": 0, "waiting": 0}
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        self._adopt("/")  # what is there at mount time is durable

    # -- bookkeeping ------------------------------------------------------------

    def _real(self, path: str) -> str:
        return str(self.live) + path

    def _new_id(self, path: str) -> int:
        file_id = self.next_id
        self.next_id += 1
        self.ids[path] = file_id
        return file_id

    def _adopt(self, folder: str) -> None:
        names: dict[str, Entry] = {}
        for entry in os.scandir(self._real(folder)):
            path = f"{folder.rstrip('/')}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                names[entry.name] = ("d", 0)
                self._adopt(path)
            elif entry.is_file(follow_symlinks=False):
                file_id = self._new_id(path)
                shutil.copyfile(entry.path, self.store / str(file_id))
                names[entry.name] = ("f", file_id)
        self.durable[folder] = names

    def _file_id(self, path: str) -> int:
        file_id = self.ids.get(path)
        return self._new_id(path) if file_id is None else file_id

    def _gate(self, operation: str | None = None) -> None:
        """Wait while stalled; fail after a cut, or with the fault set for `operation`."""
        if not self.flowing.is_set():
            with self.mutex:
                self.counts["waiting"] += 1
            self.flowing.wait()
            with self.mutex:
                self.counts["waiting"] -= 1
        if self.cut_done:
            raise mfusepy.FuseOSError(errno.EIO)
        code = self.faults.get(operation or "")
        if code is not None:
            self.counts["failed"] += 1
            raise mfusepy.FuseOSError(code)

    # -- files ------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        if self.cut_done:
            raise mfusepy.FuseOSError(errno.EIO)
        st = os.lstat(self._real(path))
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino")
        found: dict[str, Any] = {key: getattr(st, key) for key in keys}
        found.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        return found

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._real(path))]

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._real(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files")
        return {key: getattr(st, key) for key in (*keys, "f_flag", "f_frsize", "f_namemax")}

    def open(self, path: str, flags: int) -> int:
        self._gate()
        fd = os.open(self._real(path), flags & ~(os.O_CREAT | os.O_APPEND))
        with self.mutex:
            self.fds[fd] = self._file_id(path)
        return fd

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        self._gate("write")
        fd = os.open(self._real(path), os.O_RDWR | os.O_CREAT, mode)
        with self.mutex:
            self.ids.pop(path, None)
            self.fds[fd] = self._new_id(path)
        return fd

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        if self.cut_done:
            raise mfusepy.FuseOSError(errno.EIO)
        return os.pread(fh, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        self._gate("write")
        written = os.pwrite(fh, data, offset)
        with self.mutex:
            self.counts["writes"] += 1
            pages = self.dirty.setdefault(self.fds[fh], set())
            pages.update(range(offset // PAGE, (offset + written - 1) // PAGE + 1))
        return written

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        self._gate("write")
        if fh is None:
            os.truncate(self._real(path), length)
        else:
            os.ftruncate(fh, length)
        with self.mutex:
            file_id = self._file_id(path) if fh is None else self.fds[fh]
            self.dirty.setdefault(file_id, set())  # the new size is durable at its fsync
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self._gate()
        with self.mutex:
            self.counts["fsyncs"] += 1
            file_id = self.fds[fh]
            code = self.faults.get("fsync")
            if code is not None:
                self.counts["failed"] += 1
                self.dirty.pop(file_id, None)  # Linux marks the pages clean anyway
                raise mfusepy.FuseOSError(code)
            if self.lying:
                return 0
            pages = self.dirty.pop(file_id, set())
            size = os.fstat(fh).st_size
            source = os.open(f"/proc/self/fd/{fh}", os.O_RDONLY)
            target = os.open(self.store / str(file_id), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.ftruncate(target, size)
                for page in sorted(pages):
                    if page * PAGE < size:
                        os.pwrite(target, os.pread(source, PAGE, page * PAGE), page * PAGE)
            finally:
                os.close(source)
                os.close(target)
        return 0

    def release(self, path: str, fh: int) -> int:
        with self.mutex:
            self.fds.pop(fh, None)
        os.close(fh)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    # -- names ------------------------------------------------------------------

    def mkdir(self, path: str, mode: int) -> int:
        self._gate("write")
        os.mkdir(self._real(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        self._gate("write")
        os.rmdir(self._real(path))
        return 0

    def unlink(self, path: str) -> int:
        self._gate("write")
        os.unlink(self._real(path))
        with self.mutex:
            self.ids.pop(path, None)
        return 0

    def rename(self, old: str, new: str) -> int:
        self._gate("write")
        os.rename(self._real(old), self._real(new))
        with self.mutex:
            prefix = old.rstrip("/") + "/"
            for path in [p for p in self.ids if p == old or p.startswith(prefix)]:
                self.ids[new + path[len(old) :]] = self.ids.pop(path)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._real(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        os.utime(self._real(path), ns=times)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        """The folder's names, as they are now, become durable."""
        self._gate()
        with self.mutex:
            self.counts["fsyncs"] += 1
            code = self.faults.get("fsync")
            if code is not None:
                self.counts["failed"] += 1
                raise mfusepy.FuseOSError(code)
            if self.lying:
                return 0
            names: dict[str, Entry] = {}
            for entry in os.scandir(self._real(path)):
                child = f"{path.rstrip('/')}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    names[entry.name] = ("d", 0)
                elif entry.is_file(follow_symlinks=False):
                    file_id = self._file_id(child)
                    (self.store / str(file_id)).touch()  # named, if never synced: empty
                    names[entry.name] = ("f", file_id)
            self.durable[path] = names
        return 0

    # -- the power --------------------------------------------------------------

    def cut(self) -> None:
        """Block everything, rebuild LIVE from what was durable, fail what was blocked."""
        self.flowing.clear()
        with self.mutex:
            for entry in os.scandir(self.live):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            self._restore("/")
            self.cut_done = True
        self.flowing.set()

    def _restore(self, folder: str) -> None:
        for name, (kind, file_id) in self.durable.get(folder, {}).items():
            path = f"{folder.rstrip('/')}/{name}"
            if kind == "d":
                os.mkdir(self._real(path))
                self._restore(path)
            else:
                shutil.copyfile(self.store / str(file_id), self._real(path))

    def command(self, line: str) -> str:
        words = line.split()
        match words:
            case ["cut"]:
                self.cut()
            case ["fault", ("write" | "fsync") as operation, ("EIO" | "ENOSPC") as name]:
                self.faults[operation] = ERRNOS[name]
            case ["stall"]:
                self.flowing.clear()
            case ["lie"]:
                self.lying = True
            case ["clear"]:
                self.faults.clear()
                self.lying = False
                self.flowing.set()
            case ["stats"]:
                return "ok " + " ".join(f"{k}={v}" for k, v in self.counts.items())
            case _:
                return f"error unknown command {line!r}"
        return "ok"


def _serve_control(fs: PowerLossFS, path: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    while True:
        connection, _ = server.accept()
        with connection, connection.makefile("rw") as stream:
            for line in stream:
                stream.write(fs.command(line.strip()) + "\n")
                stream.flush()


def main(argv: list[str]) -> None:
    live, store, mount, control = argv
    fs = PowerLossFS(Path(live), Path(store))
    threading.Thread(target=_serve_control, args=(fs, control), daemon=True).start()
    # Kernel caches off: after a cut nothing stale may be served from memory.
    mfusepy.FUSE(fs, mount, foreground=True, attr_timeout=0, entry_timeout=0)


if __name__ == "__main__":
    if not stat.S_ISDIR(os.stat(sys.argv[3]).st_mode):
        sys.exit(f"{sys.argv[3]}: not a folder")
    main(sys.argv[1:])
