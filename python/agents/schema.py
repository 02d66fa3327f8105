"""Agent input checked against the agent's ``input_schema`` before the run starts,
so bad input is the caller's 422, not the agent's 500."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError


class InvalidSchema(Exception):
    """An agent declares an ``input_schema`` that is not valid JSON Schema."""


def check_schema(schema: dict[str, Any]) -> None:
    """Raises InvalidSchema with the reason; agents are checked when they load."""
    _validator(json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise InvalidSchema(error.message) from None
    return Draft202012Validator(schema)


def input_errors(schema: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """Each violation as ``{"loc": ["input", ...path], "msg": ...}``; empty when valid."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    return [{"loc": ["input", *error.absolute_path], "msg": error.message} for error in errors]
