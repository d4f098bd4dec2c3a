"""The front-end code kept for the tests is the pinned release, byte for byte (tests/e2e/vendor/README.md)."""

from __future__ import annotations

import hashlib

from tests.browser import AXE


def test_the_kept_axe_core_is_the_pinned_release() -> None:
    assert AXE.parent.name == "axe-core-4.14.1"
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == (
        "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c")
    assert "axe v4.14.1" in AXE.read_text(encoding="utf-8")[:400]
