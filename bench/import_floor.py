"""How much importing the service costs next to the framework alone (its floor).

Each sample is a fresh interpreter that times, in-process with ``perf_counter``, one of:

- floor: the server stack (uvicorn with uvloop and httptools, as the host runs it) and
  a FastAPI app with one typed pydantic route: what any service on this stack pays;
- service: the same server stack, then ``import main`` (the app the host serves, its
  settings, middleware, routes and built-in agents).

Interpreter start-up is the same in both and left out. The two alternate, after one
discarded warm-up each (byte-code caches, page cache), and the medians are compared.
Run it with the project's venv from anywhere::

    .venv/bin/python bench/import_floor.py [--runs 15] [--json] [--extra] [--service-dir D]

``--extra`` lists the modules the service loads beyond the floor: where its surplus is.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SERVICE_DIR = Path(__file__).resolve().parent.parent / "python"

SERVER_STACK = """
import uvicorn, uvloop, httptools
import uvicorn.loops.uvloop, uvicorn.protocols.http.httptools_impl, uvicorn.lifespan.on
"""

FLOOR = SERVER_STACK + """
from fastapi import FastAPI
from pydantic import BaseModel

class Item(BaseModel):
    name: str
    count: int = 0

app = FastAPI()

@app.post("/items")
async def create(item: Item) -> Item:
    return item
"""

SERVICE = SERVER_STACK + """
import main
"""

CHILD = """
import sys, time, json
started = time.perf_counter()
exec(compile({code!r}, "<measured>", "exec"), {{"__name__": "measured"}})
elapsed = time.perf_counter() - started
print(json.dumps({{"ms": elapsed * 1000, "modules": sorted(sys.modules)}}))
"""


def sample(code: str, service_dir: Path = SERVICE_DIR) -> tuple[float, list[str]]:
    env = {**os.environ, "CAGENT_TOKEN": "import-floor"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(code=code)],
        cwd=service_dir, env=env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"import_floor: the child failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["ms"], result["modules"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="samples of each (default 15)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    parser.add_argument("--extra", action="store_true", help="list the modules the service loads beyond the floor")
    parser.add_argument("--service-dir", type=Path, default=SERVICE_DIR, help="the service to import (default python/)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    _, floor_modules = sample(FLOOR)  # warm-ups, discarded
    _, service_modules = sample(SERVICE, args.service_dir)
    floor_ms: list[float] = []
    service_ms: list[float] = []
    for _ in range(args.runs):
        floor_ms.append(sample(FLOOR)[0])
        service_ms.append(sample(SERVICE, args.service_dir)[0])
    floor, service = statistics.median(floor_ms), statistics.median(service_ms)
    extra = sorted(set(service_modules) - set(floor_modules))
    figures = {
        "runs": args.runs,
        "floor_ms": round(floor, 1),
        "service_ms": round(service, 1),
        "ratio": round(service / floor, 3),
        "floor_ms_all": [round(v, 1) for v in floor_ms],
        "service_ms_all": [round(v, 1) for v in service_ms],
        "floor_modules": len(floor_modules),
        "service_modules": len(service_modules),
    }
    if args.json:
        if args.extra:
            figures["extra_modules"] = extra
        print(json.dumps(figures))
        return 0
    print(f"python {sys.version.split()[0]} ({sys.executable}), {args.runs} runs each, medians:")
    print(f"  floor   (server stack + FastAPI, one typed route): {floor:7.1f} ms  ({len(floor_modules)} modules)")
    print(f"  service (server stack + import main):              {service:7.1f} ms  ({len(service_modules)} modules)")
    print(f"  ratio: {service / floor:.3f}")
    if args.extra:
        print(f"modules beyond the floor ({len(extra)}):")
        for name in extra:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
