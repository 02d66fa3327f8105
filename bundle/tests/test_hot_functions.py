"""bundle/hot_functions.py: which profiled functions become the link's symbol order."""

from __future__ import annotations

from pathlib import Path

import hot_functions
import pytest

# callgrind --dump-instr=yes --compress-pos=no: cost lines start with the address.
CALLGRIND = """\
positions: instr line
events: Ir
ob=/lib/libc.so.6
fn=memcpy
0x1000 0 5
ob=/tmp/profile.1234/folder/cagent-sidecar
fn=main
0x401000 0 3
0x401004 0 3
calls=1 0x401100 0
0x401008 0 7
fn=merged_helper
0x401100 0 2
fn=stub
0x400f00 0 1
ob=/x/other.so
fn=elsewhere
0x401200 0 1
ob=/tmp/profile.1234/folder/cagent-sidecar
fn=main
0x401000 0 1
0x401300 0 1
0x401400 0 1
"""

# nm -S --defined-only: main; one body with two names (the callgrind name is defined in
# two objects, the other once); shared (defined twice, one copy in a big section); a
# symbol without a size.
NM = """\
0000000000401000 0000000000000010 T main
0000000000401100 0000000000000020 t merged_helper
0000000000401100 0000000000000020 t $s4Host6helperyyF
0000000000405000 0000000000000020 t merged_helper
0000000000401300 0000000000000020 t shared
0000000000500000 0000000000000020 t shared
0000000000401400 t sizeless
0000000000401500 0000000000000010 T after
0000000000600000 0000000000000008 D data
"""

# lld's map: output sections at depth 1, input sections at depth 9, symbols at depth 17.
MAP = """\
             VMA              LMA     Size Align Out     In      Symbol
          200000           200000      100     8 .rodata
          200000           200000      100     8         a.o:(.rodata)
          401000           401000   200000    16 .text
          401000           401000       10    16         a.o:(.text.main)
          401000           401000       10     1                 main
          401100           401100       20    16         a.o:(.text.helper)
          401100           401100       20     1                 merged_helper
          401100           401100       20     1                 $s4Host6helperyyF
          401300           401300       20    16         a.o:(.text.shared)
          401300           401300       20     1                 shared
          401400           401400       40    16         a.o:(.text.sizeless)
          401400           401400       40     1                 sizeless
          405000           405000       20    16         b.o:(.text.merged_helper)
          405000           405000       20     1                 merged_helper
          500000           500000    80000    16         blob.o:(.text)
          500000           500000       20     1                 shared
          500100           500100       20     1                 cold_in_blob
          600000           600000      100    16 .data
          600000           600000       20     1                 main
"""


def profile(tmp_path: Path) -> list[str]:
    callgrind = tmp_path / "callgrind.out"
    callgrind.write_text(CALLGRIND)
    addresses = hot_functions.executed_addresses(callgrind, "/build/release/cagent-sidecar")
    return hot_functions.functions_run(addresses, hot_functions.symbol_table(NM))


def test_the_executables_instructions_in_first_seen_order(tmp_path: Path) -> None:
    callgrind = tmp_path / "callgrind.out"
    callgrind.write_text(CALLGRIND)
    addresses = hot_functions.executed_addresses(callgrind, "/build/release/cagent-sidecar")
    assert addresses == [0x401000, 0x401004, 0x401008, 0x401100, 0x400F00, 0x401300, 0x401400]


def test_each_address_names_its_function_by_a_name_defined_once(tmp_path: Path) -> None:
    # 0x400f00 has no symbol; merged_helper's body is named by its other, unique name; a
    # symbol without a size reaches the next one.
    assert profile(tmp_path) == ["main", "$s4Host6helperyyF", "shared", "sizeless"]


def test_a_shared_name_that_would_pull_a_cold_large_section_is_left_out(tmp_path: Path) -> None:
    link_map = tmp_path / "cagent-sidecar.map"
    link_map.write_text(MAP)
    sections = hot_functions.text_sections(link_map)
    assert len(sections.defined_in["merged_helper"]) == 2
    assert len(sections.defined_in["main"]) == 1  # the .data symbol of that name is not code
    order, left_out = hot_functions.hot_order(profile(tmp_path), sections)
    # shared's other copy is in blob.o's 512 KB .text, which nothing else makes hot.
    assert order == ["main", "$s4Host6helperyyF", "sizeless"]
    assert left_out == 1


def test_a_map_without_text_is_refused(tmp_path: Path) -> None:
    link_map = tmp_path / "empty.map"
    link_map.write_text("             VMA              LMA     Size Align Out     In      Symbol\n")
    with pytest.raises(SystemExit, match="no .text sections"):
        hot_functions.text_sections(link_map)
