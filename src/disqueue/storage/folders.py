"""Folders a power cut cannot take back.

Creating a file or folder changes the folder above it, and that change is durable only
once that folder is fsynced (POSIX promises no more; ext4 happens to, other filesystems
do not). SQLite fsyncs the folder when it creates its WAL, not when it creates the
database file, and never the folders above.
"""

from __future__ import annotations

import os
from pathlib import Path


def create_folders(path: Path) -> None:
    """`mkdir -p path`, fsyncing the folder above each folder it had to create."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    path.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        sync_folder(created.parent)


def sync_folder(path: Path) -> None:
    """fsync a folder: the names in it (files created, renamed or removed) are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
