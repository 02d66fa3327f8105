"""Property-based fuzzing of the whole API from its own /openapi.json (schemathesis),
over a real uvicorn on loopback with the token: no answer is a 5xx, every answer
conforms to the schema (documented status, content type, body, headers), data that
does not fit the schema is refused with a 4xx and data that fits is not refused as
invalid (all of schemathesis' default checks, positive and negative data).

Bounded: MAX_EXAMPLES per operation, so that the module runs in well under a minute
on two cores. Not derandomized: each run explores new inputs (Hypothesis keeps failing
ones in .pytest_cache/hypothesis/ and replays them first).
"""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from service_support import AUTH, RealServer, make_app

MAX_EXAMPLES = 100


#: The app under test; its schema is the document its /openapi.json serves (checked
#: below). Loaded at import: schemathesis' pytest loader from a fixture does not work
#: with pytest 9.
APP = make_app()
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES)
# POST /shutdown stops the service for every later example (all would be 503):
# tests/test_http_api.py covers it.
schema = schema.exclude(path="/shutdown")


@pytest.fixture(scope="module")
def server() -> Iterator[RealServer]:
    running = RealServer(APP, loop="uvloop", http="httptools").start()
    yield running
    running.stop()


def test_schema_is_the_served_one(server: RealServer) -> None:
    response = httpx.get(f"{server.url}/openapi.json", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == APP.openapi()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, server: RealServer) -> None:
    case.call_and_validate(base_url=server.url, headers=AUTH)
