"""Hypothesis (the property tests, schemathesis' too) keeps its files (example database,
caches) in .pytest_cache/hypothesis: ignored by git and left out of the bundle, which
copies python/ except such folders (a .hypothesis/ folder beside the service would be
shipped)."""

from __future__ import annotations

from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(__file__).resolve().parent.parent / ".pytest_cache" / "hypothesis")
