"""Agent input checked against the agent's ``input_schema`` before the run starts,
so bad input is the caller's 422, not the agent's 500."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError


class InvalidSchema(Exception):
    """An agent declares an ``input_schema`` that is not valid JSON Schema."""


@lru_cache(maxsize=None)
def _validator(agent: type) -> Draft202012Validator:
    # Once per agent class: every run of that agent reuses it (this is on the hot path).
    schema = agent.input_schema  # type: ignore[attr-defined]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise InvalidSchema(error.message) from None
    return Draft202012Validator(schema)


def check_schema(agent: type) -> None:
    """Raises InvalidSchema with the reason; agents are checked when they load."""
    _validator(agent)


def input_errors(agent: type, value: Any) -> list[dict[str, Any]]:
    """Each violation as ``{"loc": ["input", ...path], "msg": ...}``; empty when valid."""
    errors = sorted(_validator(agent).iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    return [{"loc": ["input", *error.absolute_path], "msg": error.message} for error in errors]
