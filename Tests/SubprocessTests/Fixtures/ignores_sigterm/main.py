"""The real service, made deaf to SIGTERM: for the SIGTERM -> SIGKILL escalation test.

SIGTERM is ignored from the lifespan's start: uvicorn installs its own handler after
importing the app (in Server.capture_signals), so ignoring it at import would be undone.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
from contextlib import asynccontextmanager
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[4] / "python"
sys.path.insert(0, str(SERVICE))
_spec = importlib.util.spec_from_file_location("cagent_real_main", SERVICE / "main.py")
assert _spec is not None and _spec.loader is not None
_real = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_real)
app = _real.app

_lifespan = app.router.lifespan_context


@asynccontextmanager
async def _deaf(application):  # type: ignore[no-untyped-def]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    async with _lifespan(application) as state:
        yield state


app.router.lifespan_context = _deaf
