"""Logging for the ``cagent`` loggers: plain text or JSON lines, on stderr.

Only our own logger tree is configured; uvicorn (or the embedding host) keeps
its own configuration.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

from config import Settings

ROOT = "cagent"
#: Attributes of a LogRecord that are not "extra" fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_TOKEN_QUERY = re.compile(r"(?<=[?&]token=)[^&\s]*")
#: Paths whose successful answers are logged at DEBUG only: the host probes /health
#: every few seconds, and an idle service should not fill its log with that.
QUIET_PATHS = frozenset({"/health"})


def quiet(path: str, status: int) -> bool:
    """A request only a debug log needs: a health probe that succeeded."""
    return path in QUIET_PATHS and 200 <= status < 400


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RedactToken(logging.Filter):
    """Hides ``?token=`` in uvicorn's access log: it is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_QUERY.sub("***", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


class QuietHealth(logging.Filter):
    """Drops uvicorn's access line for a successful ``GET /health`` (what the host probes
    every few seconds) unless the ``cagent`` logger is at DEBUG, as our own request log
    does (web.requestlog). For a standalone uvicorn, whose access log is on by default."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with query, http version, status)
        if not (isinstance(args, tuple) and len(args) == 5 and isinstance(args[4], int)):
            return True
        if quiet(str(args[2]).split("?", 1)[0], args[4]):
            return logging.getLogger(ROOT).isEnabledFor(logging.DEBUG)
        return True


def configure_logging(settings: Settings) -> None:
    logger = logging.getLogger(ROOT)
    level = "DEBUG" if settings.log_level == "trace" else settings.log_level.upper()
    logger.setLevel(level)
    ours = [h for h in logger.handlers if getattr(h, "cagent", False)]
    for handler in ours:
        logger.removeHandler(handler)
    # Whoever configured "cagent" before us (the embedding host) keeps its handlers;
    # otherwise ours is replaced on every create_app (tests make many apps), never stacked.
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.cagent = True  # type: ignore[attr-defined]
        handler.setFormatter(
            JsonFormatter() if settings.log_json else logging.Formatter("%(levelname)s:     %(name)s: %(message)s")
        )
        logger.addHandler(handler)
        logger.propagate = False
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactToken) for f in access.filters):
        access.addFilter(RedactToken())
    if not any(isinstance(f, QuietHealth) for f in access.filters):
        access.addFilter(QuietHealth())
