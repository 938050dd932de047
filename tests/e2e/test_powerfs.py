"""The power-loss disk itself: what a cut keeps and what it loses."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from disqueue.storage.folders import sync_folder

from .power import PowerDisk, power_disk


def _write(path: Path, data: bytes, offset: int = 0, sync: bool = False) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _cycle(disk: PowerDisk) -> None:
    disk.cut()
    disk.power_off()
    disk.power_on()


def test_a_cut_keeps_what_was_fsynced_and_nothing_else(tmp_path: Path) -> None:
    """Synced data and names survive a cut; a write after the fsync, a file whose folder
    was not fsynced after its creation, and a folder made after the last fsync of the
    folder above are gone; a name made durable without its data is an empty file."""
    with power_disk(tmp_path / "disk") as disk:
        root = disk.mount
        _write(root / "kept", b"synced", sync=True)
        (root / "named").write_bytes(b"never synced")
        sync_folder(root)
        _write(root / "kept", b"XX")  # not fsynced
        _write(root / "unnamed", b"synced data, folder not synced", sync=True)
        (root / "late").mkdir()
        _cycle(disk)
        assert sorted(os.listdir(root)) == ["kept", "named"]
        assert (root / "kept").read_bytes() == b"synced"
        assert (root / "named").read_bytes() == b""


def test_a_failed_fsync_loses_its_pages_even_after_a_good_one(tmp_path: Path) -> None:
    """As on Linux: a failed fsync drops the pages it should have written, so a later
    successful fsync does not bring them back; a write after it does count."""
    with power_disk(tmp_path / "disk") as disk:
        path = disk.mount / "file"
        _write(path, b"a" * 8192, sync=True)
        sync_folder(disk.mount)
        _write(path, b"b" * 4096)
        disk.fault("fsync", "EIO")
        fd = os.open(path, os.O_RDWR)
        try:
            with pytest.raises(OSError, match="Input/output error") as failed:
                os.fsync(fd)
            assert failed.value.errno == errno.EIO
            disk.clear()
            os.pwrite(fd, b"c" * 4096, 4096)
            os.fsync(fd)  # succeeds, and covers only the page written since
        finally:
            os.close(fd)
        assert path.read_bytes() == b"b" * 4096 + b"c" * 4096  # what the page cache shows
        _cycle(disk)
        assert path.read_bytes() == b"a" * 4096 + b"c" * 4096


def test_write_faults_answer_the_errno_asked_for(tmp_path: Path) -> None:
    """`fault write ENOSPC` makes writes fail with ENOSPC until `clear`."""
    with power_disk(tmp_path / "disk") as disk:
        disk.fault("write", "ENOSPC")
        with pytest.raises(OSError, match="No space left") as failed:
            _write(disk.mount / "file", b"x")
        assert failed.value.errno == errno.ENOSPC
        disk.clear()
        _write(disk.mount / "file", b"x", sync=True)
