"""Where the published benchmark data lives: $SUANCHOU_BENCHDATA, else ../shared/benchdata
beside the repository. Missing data skips the tests that need it, except under CI=true, where
it fails them: CI must never pass by silently testing nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ENV = "SUANCHOU_BENCHDATA"


def locate_benchdata() -> Path:
    """The benchdata root; pytest.fail under CI=true when it is missing, else pytest.skip."""
    configured = os.environ.get(ENV)
    root = Path(configured) if configured else REPO.parent / "shared" / "benchdata"
    if not root.is_dir():
        message = f"benchmark data not found at {root} (set {ENV})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture
def benchdata() -> Path:
    return locate_benchdata()
