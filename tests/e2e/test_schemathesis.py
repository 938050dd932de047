"""schemathesis against `GET /openapi.json` of a running server: generated requests for
every operation the document describes, and every answer checked against it (no 5xx,
documented statuses, content types, headers and bodies, 405 with `Allow` for methods
it does not list).

Two of schemathesis's checks are left out on purpose: `positive_data_acceptance` and
`negative_data_rejection` expect the schema to say exactly which values are valid,
while the document describes parameters loosely (numbers may come as strings, as form
fields do) and the server's 400 answers (tests/e2e/test_params.py) say the rest.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import StartServer
from .helpers import PYTHON

SCHEMATHESIS = str(Path(PYTHON).parent / "st")
#: A fixed seed keeps CI repeatable; set SCHEMATHESIS_SEED to explore others.
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261126")
CHECKS = ["--checks", "all", "--exclude-checks", "negative_data_rejection,positive_data_acceptance"]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_openapi_document_holds_under_generated_requests(
    start_server: StartServer, storage: str, tmp_path: Path
) -> None:
    """Every generated request gets an answer the document allows."""
    server = start_server({"storage": {"type": storage}})
    done = subprocess.run(
        [SCHEMATHESIS, "run", f"{server.url}/openapi.json", *CHECKS, "--max-examples", "30",
         "--seed", SEED, "--no-color"],
        capture_output=True, text=True, timeout=170, check=False,
        cwd=tmp_path,  # its cache folder (.schemathesis) goes there, not in the repository
    )  # fmt: skip
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert " passed" in done.stdout and "failed" not in done.stdout.split("Test cases:")[-1], report
