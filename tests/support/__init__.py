"""What the tests share besides fixtures: paths, the fake key, and small helpers.

Test modules never import each other; anything two of them need lives here (plain helpers) or in
``tests/conftest.py`` (fixtures, which pytest hands to every test below ``tests/`` unasked).
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
XAI_DATA = TESTS / "xai"  # copy of ../shared/xai: spec and real bodies
FAKE_KEY = "fake-test-key-not-a-secret"
