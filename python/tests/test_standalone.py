"""`cd python && ../.venv/bin/python -m uvicorn main:app`, exactly as the subprocess
backend starts it, on plain asyncio + h11."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from service_support import FIXTURES
from waiting import wait_until_blocking

SERVICE_DIR = Path(__file__).resolve().parent.parent

#: The service as the subprocess backend starts it.
UVICORN = [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", "0", "--loop", "asyncio", "--http", "h11"]


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAGENT_")}
    env.update(extra)
    return env


def serving_url(process: subprocess.Popen[bytes], log: Path) -> str:
    """The URL uvicorn logs once it listens; fails at once if the process ended first."""
    found: list[str] = []

    def listening() -> bool:
        assert process.poll() is None, log.read_text()
        match = re.search(r"Uvicorn running on (http://127.0.0.1:\d+)", log.read_text())
        found.extend(match.groups() if match else ())
        return bool(found)

    wait_until_blocking(listening, timeout=30, what=f"uvicorn listens ({log})")
    return found[0]


def test_uvicorn_main_app_with_generated_token(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(UVICORN, cwd=SERVICE_DIR, env=service_env(), stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            url = serving_url(process, log)
            token_lines = re.findall(r"token for this launch: (\S+)", log.read_text())
            assert len(token_lines) == 1  # logged once
            token = token_lines[0]
            with httpx.Client(base_url=url, timeout=10) as client:
                assert client.get("/health").json()["status"] == "ok"
                assert client.get("/agents").status_code == 401
                auth = {"Authorization": f"Bearer {token}"}
                response = client.post("/agent/execute", headers=auth, json={"agent_id": "echo", "input": {"hi": 1}})
                assert response.json()["result"] == {"hi": 1}
                assert client.post("/shutdown", headers=auth).status_code == 200
        finally:
            process.terminate()
            process.wait(15)
    # uvicorn ends with the signal it got, after a clean shutdown.
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()


def test_post_shutdown_stops_uvicorn_and_the_process_exits_0(tmp_path: Path) -> None:
    # "Release resources and exit": the subprocess backend tells this exit (status 0)
    # from a crash and does not restart the service.
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            UVICORN, cwd=SERVICE_DIR, env=service_env(CAGENT_TOKEN="t"), stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            with httpx.Client(base_url=serving_url(process, log), timeout=10) as client:
                response = client.post("/shutdown", headers={"Authorization": "Bearer t"})
                assert response.status_code == 200
                assert response.json() == {"status": "ok", "exiting": True}
            returncode = process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert returncode == 0, log.read_text()
    assert "Application shutdown complete" in log.read_text()


def test_broken_agents_dir_fails_the_start_naming_the_file() -> None:
    command = [sys.executable, "-c", "import main"]
    result = subprocess.run(
        command,
        cwd=SERVICE_DIR,
        env=service_env(CAGENT_TOKEN="t", CAGENT_AGENTS_DIR=str(FIXTURES / "broken")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "AgentLoadError" in result.stderr
    assert "fails_at_import.py" in result.stderr


def test_loading_the_service_leaves_the_llm_client_unimported() -> None:
    # httpx is ~14 ms of a ~300 ms import; only a run of the chat agent needs it.
    check = "import sys, main; print(sorted(name for name in sys.modules if name.split('.')[0] == 'httpx'))"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=SERVICE_DIR, env=service_env(CAGENT_TOKEN="t"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
