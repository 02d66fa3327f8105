import sys
from pathlib import Path

# The host's Python package, as the Swift host puts it on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Sources" / "EmbeddedHost" / "Python"))
