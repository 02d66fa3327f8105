"""Service settings: one data class, read from ``CAGENT_*`` environment variables.

An optional ``.env`` file (python-dotenv) in the working directory is read first;
variables already set in the environment win over it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PREFIX = "CAGENT_"

LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


class SettingsError(ValueError):
    """A ``CAGENT_*`` variable holds a value the service cannot use."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    log_level: LogLevel = "info"
    #: JSON lines for the request log instead of plain text.
    log_json: bool = False
    #: Required on every endpoint but /health. None: a random one is generated per
    #: launch and logged (the Swift host always passes its own).
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    keepalive_interval_s: float = Field(15.0, gt=0)
    #: Sent as ``retry:`` at the start of every event stream: how long an EventSource
    #: (or the Swift client) waits before reconnecting a dropped stream. The browsers'
    #: own default is about 3 s; a local sidecar is back sooner (the host keeps
    #: connections in its listening backlog during a restart).
    sse_retry_ms: int = Field(1000, gt=0)
    #: A stream client that takes nothing for this long (its socket and the server's
    #: buffer for it are full) is dropped: its stream is closed and logged.
    stream_send_timeout_s: float = Field(30.0, gt=0)
    default_run_timeout_s: float = Field(300.0, gt=0)
    #: How long a finished run's events stay readable when nobody read them to the end.
    run_retention_s: float = Field(300.0, gt=0)
    agents_dir: Path | None = None
    mcp_toolsets_file: Path | None = None
    tool_timeout_s: float = Field(30.0, gt=0)
    llm_base_url: str | None = None
    llm_model: str = "default"
    llm_api_key: str | None = None
    llm_timeout_s: float = Field(120.0, gt=0)
    chat_max_steps: int = Field(8, gt=0)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, env_file: str | Path | None = ".env") -> "Settings":
        """Settings from ``CAGENT_<FIELD>`` variables (``CAGENT_AGENTS_DIR`` -> ``agents_dir``).

        Lists (origins, hosts) are comma-separated. Unknown ``CAGENT_*`` names are ignored
        so that the host can set its own variables alongside.
        """
        merged: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        merged.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = merged.get(PREFIX + name.upper())
            if raw is None:
                continue
            if field.annotation in (tuple[str, ...],):
                values[name] = tuple(part.strip() for part in raw.split(",") if part.strip())
            elif raw == "" and not field.is_required():
                continue
            else:
                values[name] = raw
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors()
            )
            raise SettingsError(f"invalid settings: {problems}") from None
