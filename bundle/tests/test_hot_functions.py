"""bundle/hot_functions.py: which profiled names become the link's symbol order."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hot_functions  # noqa: E402

CALLGRIND = """\
ob=/lib/libc.so.6
fn=memcpy
ob=/x/cagent-sidecar
fn=main
fn=walk'2
fn=0x00000000005192e0
fn=(below main)
fn=shared_small
fn=shared_in_blob
fn=shared_in_hot_blob
fn=blob_hot
ob=/x/other.so
fn=elsewhere
ob=/x/cagent-sidecar
fn=walk
"""

# lld's map: output sections at depth 1, input sections at depth 9, symbols at depth 17.
MAP = """\
             VMA              LMA     Size Align Out     In      Symbol
          200000           200000      100     8 .rodata
          200000           200000      100     8         a.o:(.rodata)
          300000           300000   100000    16 .text
          300000           300000       40    16         a.o:(.text.main)
          300000           300000       40     1                 main
          300040           300040       40    16         a.o:(.text.walk)
          300040           300040       40     1                 walk
          300080           300080       20    16         a.o:(.text.shared_small)
          300080           300080       20     1                 shared_small
          3000a0           3000a0       20    16         b.o:(.text.shared_small)
          3000a0           3000a0       20     1                 shared_small
          300100           300100    80000    16         blob.o:(.text)
          300100           300100       20     1                 shared_in_blob
          300200           300200       20     1                 cold_in_blob
          380100           380100       20    16         c.o:(.text.shared_in_blob)
          380100           380100       20     1                 shared_in_blob
          380200           380200    40000    16         hotblob.o:(.text)
          380200           380200       20     1                 blob_hot
          380300           380300       20     1                 shared_in_hot_blob
          3c0200           3c0200       20    16         d.o:(.text.x)
          3c0200           3c0200       20     1                 shared_in_hot_blob
          400000           400000      100    16 .data
          400000           400000       20     1                 main
"""


def write(tmp_path: Path) -> tuple[Path, Path]:
    callgrind = tmp_path / "callgrind.out"
    callgrind.write_text(CALLGRIND)
    link_map = tmp_path / "cagent-sidecar.map"
    link_map.write_text(MAP)
    return callgrind, link_map


def test_profiled_functions_are_the_executables_by_symbol_in_first_seen_order(tmp_path: Path) -> None:
    callgrind, _ = write(tmp_path)
    names = hot_functions.profiled_functions(callgrind, "/elsewhere/cagent-sidecar")
    assert names == ["main", "walk", "shared_small", "shared_in_blob", "shared_in_hot_blob", "blob_hot"]


def test_the_map_gives_each_text_symbol_its_sections(tmp_path: Path) -> None:
    _, link_map = write(tmp_path)
    sections = hot_functions.text_sections(link_map)
    assert len(sections.sizes) == 8
    assert len(sections.defined_in["shared_small"]) == 2
    assert len(sections.defined_in["main"]) == 1  # the .data symbol of that name is not code


def test_a_shared_name_that_would_pull_a_cold_large_section_is_left_out(tmp_path: Path) -> None:
    callgrind, link_map = write(tmp_path)
    profiled = hot_functions.profiled_functions(callgrind, "/x/cagent-sidecar")
    order, left_out = hot_functions.hot_order(profiled, hot_functions.text_sections(link_map))
    # shared_in_blob's other copy is in blob.o's 512 KB .text, which nothing else makes hot.
    assert order == ["main", "walk", "shared_small", "shared_in_hot_blob", "blob_hot"]
    assert left_out == 1


def test_a_map_without_text_is_refused(tmp_path: Path) -> None:
    link_map = tmp_path / "empty.map"
    link_map.write_text("             VMA              LMA     Size Align Out     In      Symbol\n")
    try:
        hot_functions.text_sections(link_map)
    except SystemExit as error:
        assert "no .text sections" in str(error)
    else:
        raise AssertionError("expected SystemExit")
