"""The per-generation extension loader, in fresh interpreters (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HOST = Path(__file__).resolve().parents[2] / "Sources" / "EmbeddedHost" / "Python"


def run_python(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(HOST)!r})\n" + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_extension_modules_load_from_copies_and_work(tmp_path: Path) -> None:
    out = run_python(
        f"""
        from cagent_host import generation
        finder = generation.install({str(tmp_path)!r})
        import asyncio, json, decimal, uvloop, pydantic, httptools
        class M(pydantic.BaseModel):
            d: decimal.Decimal
        print(json.dumps({{
            "asyncio": sys.modules["_asyncio"].__file__,
            "uvloop": sys.modules["uvloop.loop"].__file__,
            "pydantic_core": sys.modules["pydantic_core._pydantic_core"].__file__,
            "json_speedups": sys.modules["_json"].__file__,
            "pure_python": sys.modules["json.decoder"].__file__,
            "copied": sorted(finder.copied),
            "works": [uvloop.run(asyncio.sleep(0, "uv")), M(d="1.5").model_dump_json()],
        }}))
        """
    )
    for key in ("asyncio", "uvloop", "pydantic_core", "json_speedups"):
        assert out[key].startswith(str(tmp_path) + "/"), (key, out[key])
    assert not out["pure_python"].startswith(str(tmp_path))
    assert {"_asyncio", "uvloop.loop", "pydantic_core._pydantic_core", "_json"} <= set(out["copied"])
    assert out["works"] == ["uv", '{"d":"1.5"}']
    # Each copy keeps its original file name in a folder named after the module.
    assert Path(out["uvloop"]).parent.name == "uvloop.loop"


def test_without_the_finder_modules_load_in_place(tmp_path: Path) -> None:
    out = run_python(
        """
        import uvloop, json
        print(json.dumps({"uvloop": sys.modules["uvloop.loop"].__file__}))
        """
    )
    assert "site-packages/uvloop/" in out["uvloop"]


def test_the_finder_module_itself_loads_no_extension_module() -> None:
    # It is imported before the finder exists: anything it pulled in would load in place.
    out = run_python(
        """
        before = {n for n, m in sys.modules.items() if (getattr(m, "__file__", "") or "").endswith(".so")}
        from cagent_host import generation
        after = {n for n, m in sys.modules.items() if (getattr(m, "__file__", "") or "").endswith(".so")}
        import json
        print(json.dumps({"new": sorted(after - before)}))
        """
    )
    assert out["new"] == []


def test_unsafe_modules_are_named_only_when_loaded() -> None:
    from cagent_host import generation

    assert generation.unsafe_loaded_modules(["json", "surely_not_loaded_module"]) == [
        "extension module 'json' does not survive re-initialization"
    ]
    assert generation.unsafe_loaded_modules() == []  # nothing is known unsafe yet


def test_extension_files_name_the_originals_for_copying_ahead(tmp_path: Path) -> None:
    out = run_python(
        f"""
        from cagent_host import generation
        generation.install({str(tmp_path)!r})
        import json, uvloop, pydantic
        print(json.dumps(dict(generation.extension_files())))
        """
    )
    # The original files, not this generation's copies: the next one copies those.
    assert "site-packages/uvloop/" in out["uvloop.loop"]
    assert "site-packages/pydantic_core/" in out["pydantic_core._pydantic_core"]
    assert not any(origin.startswith(str(tmp_path)) for origin in out.values())


def test_a_complete_copy_made_ahead_is_used_and_a_truncated_one_replaced(tmp_path: Path) -> None:
    out = run_python(
        f"""
        import glob, os, importlib.util
        from cagent_host import generation
        directory = {str(tmp_path)!r}
        # Found without importing the packages (find_spec of a submodule would).
        def origin(package, pattern):
            folder = importlib.util.find_spec(package).submodule_search_locations[0]
            return glob.glob(os.path.join(folder, pattern))[0]
        uvloop_origin = origin("uvloop", "loop.*.so")
        httptools_origin = origin("httptools", "parser/parser.*.so")
        ahead = generation.copy_path(directory, "uvloop.loop", uvloop_origin)
        truncated = generation.copy_path(directory, "httptools.parser.parser", httptools_origin)
        for path, origin, size in ((ahead, uvloop_origin, None), (truncated, httptools_origin, 100)):
            os.makedirs(os.path.dirname(path))
            with open(origin, "rb") as source, open(path, "wb") as target:
                target.write(source.read() if size is None else source.read(size))
        inode = os.stat(ahead).st_ino
        generation.install(directory)
        import asyncio, json, uvloop, httptools
        parser = httptools.HttpRequestParser(object())
        print(json.dumps({{
            "reused": os.stat(sys.modules["uvloop.loop"].__file__).st_ino == inode,
            "replaced": os.stat(truncated).st_size == os.stat(httptools_origin).st_size,
            "works": uvloop.run(asyncio.sleep(0, "uv")),
        }}))
        """
    )
    assert out == {"reused": True, "replaced": True, "works": "uv"}
