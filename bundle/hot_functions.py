"""The symbol order make bundle links with (bundle/hot-functions.txt), from a profile.

Reads the instructions callgrind saw run in the executable (`--dump-instr=yes`), names
the function around each by the executable's symbol table, and writes the names lld
should place first.

By address, not by callgrind's function names: a body often has several names (Swift
merges identical functions and value witnesses, C has aliases), and callgrind reports one
of them, which may be a name defined in many objects.

lld's order file names symbols, not sections, and gives every section defining a listed
name the same priority, local copies included: a generic specialization that several
modules each carry (the same mangled name, local in each) pulls every copy's section
forward, and where a copy sits in one of the toolchain's unsplittable sections
(libswiftCore's 1.6 MB `.text`, _RegexParser's 0.5 MB) that whole section would be placed
among the hot code. Such a name is left out unless every section it would pull forward is
small or hot anyway (the link map says which sections define which names).

Usage: hot_functions.py CALLGRIND_OUT EXECUTABLE LINK_MAP > hot-functions.txt
"""

from __future__ import annotations

import bisect
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

#: A section this small costs little when a shared name pulls it forward.
SMALL_SECTION = 16 * 1024

HEADER = """\
# The executable's functions that a start, a few requests and 30 s idle run, linked
# first by bundle/build.sh. Written by make bundle-profile (bundle/profile.sh and
# bundle/hot_functions.py); {left_out} names defined more than once were left out.
"""


def executed_addresses(callgrind_out: Path, executable: str) -> list[int]:
    """Every instruction address callgrind charged to the file named `executable` (ob=,
    compared by name: the profile's temporary folder is gone when the list is remade),
    in first-seen order. Cost lines start with the address (`--compress-pos=no`)."""
    name = Path(executable).name
    seen: dict[int, None] = {}
    in_executable = False
    with callgrind_out.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("ob="):
                in_executable = Path(line[3:].rstrip("\n")).name == name
            elif in_executable and line.startswith("0x"):
                seen.setdefault(int(line.split(maxsplit=1)[0], 16))
    return list(seen)


@dataclass
class SymbolTable:
    """The executable's code symbols: where each body starts and ends, and its names."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    names: list[list[str]] = field(default_factory=list)
    definitions: Counter[str] = field(default_factory=Counter)


def symbol_table(nm_output: str) -> SymbolTable:
    """From `nm -S --defined-only` (address, size, type, name): code symbols only. A
    symbol without a size ends where the next one starts."""
    sizes: dict[int, int] = {}
    names: defaultdict[int, list[str]] = defaultdict(list)
    table = SymbolTable()
    for line in nm_output.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwWiI":
            start, size, name = int(fields[0], 16), int(fields[1], 16), fields[3]
        elif len(fields) == 3 and fields[1] in "tTwW":
            start, size, name = int(fields[0], 16), 0, fields[2]
        else:
            continue
        table.definitions[name] += 1
        sizes[start] = max(sizes.get(start, 0), size)
        names[start].append(name)
    starts = sorted(sizes)
    for index, start in enumerate(starts):
        following = starts[index + 1] if index + 1 < len(starts) else start + max(sizes[start], 1)
        table.starts.append(start)
        table.ends.append(start + sizes[start] if sizes[start] else following)
        table.names.append(names[start])
    return table


def functions_run(addresses: list[int], table: SymbolTable) -> list[str]:
    """The function around each address, once, in first-seen order: of a body's names,
    one defined nowhere else when there is one."""
    order: dict[str, None] = {}
    for address in addresses:
        index = bisect.bisect_right(table.starts, address) - 1
        if index < 0 or address >= table.ends[index]:
            continue  # code without a symbol (PLT stubs and the like)
        names = table.names[index]
        order.setdefault(min(names, key=lambda name: (table.definitions[name] > 1, name)))
    return list(order)


@dataclass
class TextSections:
    """The input sections of the map's `.text` and the symbols each defines."""

    sizes: list[int] = field(default_factory=list)
    defined_in: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def text_sections(link_map: Path) -> TextSections:
    """Parses lld's map: `VMA LMA Size Align Out In Symbol`, indented by depth."""
    sections = TextSections()
    row = re.compile(r"\s*[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+( +)(.*)$")
    in_text = False
    with link_map.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            match = row.match(line)
            if not match:
                continue
            size, indent, name = int(match.group(1), 16), len(match.group(2)), match.group(3)
            if indent == 1:  # an output section
                if in_text:
                    break
                in_text = name == ".text"
            elif in_text and indent < 12:  # an input section
                sections.sizes.append(size)
            elif in_text and sections.sizes:  # a symbol of the last input section
                sections.defined_in[name].append(len(sections.sizes) - 1)
    if not sections.sizes:
        raise SystemExit(f"hot_functions: no .text sections in {link_map}")
    return sections


def hot_order(run: list[str], sections: TextSections) -> tuple[list[str], int]:
    """The names to list, and how many names defined more than once were left out."""
    single = [name for name in run if len(sections.defined_in.get(name, ())) == 1]
    hot_sections = {sections.defined_in[name][0] for name in single}
    order: list[str] = []
    left_out = 0
    for name in run:
        places = sections.defined_in.get(name, [])
        if len(places) > 1 and any(
            place not in hot_sections and sections.sizes[place] > SMALL_SECTION for place in places
        ):
            left_out += 1
            continue
        order.append(name)
    return order, left_out


def main(arguments: list[str]) -> None:
    if len(arguments) != 3:
        raise SystemExit(__doc__)
    callgrind_out, executable, link_map = arguments
    nm = subprocess.run(["nm", "-S", "--defined-only", executable], check=True, capture_output=True, text=True)
    run = functions_run(executed_addresses(Path(callgrind_out), executable), symbol_table(nm.stdout))
    order, left_out = hot_order(run, text_sections(Path(link_map)))
    sys.stdout.write(HEADER.format(left_out=left_out))
    sys.stdout.writelines(name + "\n" for name in order)


if __name__ == "__main__":
    main(sys.argv[1:])
