"""Process limits the server needs: every connection is an open file."""

from __future__ import annotations

import resource


def raise_open_files() -> str:
    """Raise the soft limit on open files to the hard limit (a common soft limit of 1024
    would stop the server near 1,000 connections); what was done, for the log."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= soft:
        return f"open files: limit {soft}"
    wanted = 1_048_576 if hard == resource.RLIM_INFINITY else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:
        return f"open files: limit stays {soft} (raising it failed: {exc})"
    return f"open files: limit raised from {soft} to {wanted}"
