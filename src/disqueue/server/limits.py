"""Process limits the server needs: every connection is an open file."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("disqueue.server")


def raise_open_files() -> int:
    """Raise the soft limit on open files to the hard limit (a common soft limit of 1024
    would stop the server near 1,000 connections); log it, and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("open files: limit stays %d (raising it failed: %s)", soft, exc)
            return soft
        log.info("open files: limit raised from %d to %d", soft, wanted)
        return wanted
    log.info("open files: limit %d", soft)
    return soft
