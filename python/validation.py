"""One line that says what a pydantic validation found wrong, for error messages.

The agents' input errors, the toolsets file's errors and the HTTP layer's 422 all say
it the same way: ``dotted.path: message`` per problem, joined by ``; ``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def problems(errors: Iterable[Mapping[str, Any]], top: str = "") -> str:
    """``errors`` (pydantic's ``ValidationError.errors()``, or dicts with its ``loc`` and
    ``msg``) in one line; ``top`` names the place of an error about the whole object
    (an empty ``loc``)."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc']) or top}: {e['msg']}" for e in errors)
