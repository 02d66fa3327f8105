import sys
from pathlib import Path

# The host's Python package, as the Swift host puts it on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Sources" / "EmbeddedHost" / "Python"))

# The tests' one way to wait for a condition (python/tests/waiting.py), shared with the
# service's tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))
