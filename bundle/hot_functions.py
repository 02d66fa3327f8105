"""The symbol order make bundle links with (bundle/hot-functions.txt), from a profile.

Reads the functions callgrind charged to the executable and the link map of the build
that was profiled, and writes the names lld should place first. lld's order file names
symbols, not sections, and gives every section defining a listed name the same priority,
local copies included: a generic specialization that several modules each carry (the
same mangled name, local in each) would pull every copy's section forward, and where a
copy sits in one of the toolchain's unsplittable sections (libswiftCore's, _RegexParser's
1.6 and 0.5 MB `.text`) that whole section would be placed among the hot code. Such a
name is left out unless every section it would pull forward is small or hot anyway.

Usage: hot_functions.py CALLGRIND_OUT EXECUTABLE LINK_MAP > hot-functions.txt
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

#: A section this small costs little when a shared name pulls it forward.
SMALL_SECTION = 16 * 1024

HEADER = """\
# The executable's functions that a start, a few requests and 30 s idle run, linked
# first by bundle/build.sh. Written by make bundle-profile (bundle/profile.sh and
# bundle/hot_functions.py); {left_out} names defined more than once were left out.
"""


def profiled_functions(callgrind_out: Path, executable: str) -> list[str]:
    """Every function callgrind charged to the file named `executable` (ob=, compared by
    name: the profile's temporary folder is gone by the time the list is remade).

    Names are symbols (callgrind runs with --demangle=no); a recursion level's 'N mark
    is dropped, and code without a symbol (named by its address) is skipped.
    """
    names: dict[str, None] = {}
    in_executable = False
    with callgrind_out.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("ob="):
                in_executable = Path(line[3:].rstrip("\n")).name == Path(executable).name
            elif line.startswith("fn=") and in_executable:
                name = re.sub(r"'\d+$", "", line[3:].rstrip("\n"))
                if not re.fullmatch(r"0x[0-9a-f]+|\(below main\)", name):
                    names.setdefault(name)
    return list(names)


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


def hot_order(profiled: list[str], sections: TextSections) -> tuple[list[str], int]:
    """The names to list, and how many names defined more than once were left out."""
    single = [name for name in profiled if len(sections.defined_in.get(name, ())) == 1]
    hot_sections = {sections.defined_in[name][0] for name in single}
    order: list[str] = []
    left_out = 0
    for name in profiled:
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
    profiled = profiled_functions(Path(callgrind_out), executable)
    order, left_out = hot_order(profiled, text_sections(Path(link_map)))
    sys.stdout.write(HEADER.format(left_out=left_out))
    sys.stdout.writelines(name + "\n" for name in order)


if __name__ == "__main__":
    main(sys.argv[1:])
