"""Readers of Slurm's text output. Errors name the field and quote a short prefix of it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.slurm.commands import quote

# `scontrol show ... -o` prints one record per line as `Key=value` pairs separated by spaces;
# a few values (OS, Reason) contain spaces themselves, so a pair starts only where a space is
# followed by `Key=`. The first occurrence of a key wins: free text (Reason) comes last.
_PAIR = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:.]*)=")


class ParseError(ValueError):
    """Slurm printed something this agent does not understand."""


def key_values(line: str) -> dict[str, str]:
    """`A=1 B=x y C=` -> {"A": "1", "B": "x y", "C": ""}."""
    matches = list(_PAIR.finditer(line))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        fields.setdefault(match.group(1), line[match.end() : end].strip())
    return fields


def require(fields: dict[str, str], key: str, what: str) -> str:
    if key not in fields:
        raise ParseError(f"{what}: no {key} field")
    return fields[key]


def integer(fields: dict[str, str], key: str, what: str) -> int:
    raw = require(fields, key, what)
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise ParseError(f"{what}.{key}: expected a whole number, got {quote(raw, 40)}")
    return int(raw)


@dataclass(frozen=True)
class Gres:
    name: str  # e.g. gpu
    type: str  # e.g. a100; "" when untyped
    count: int


def gres_list(raw: str, what: str) -> list[Gres]:
    """`gpu:a100:2(S:0-1),gpu:1(IDX:0),mps:100` -> Gres entries; "(null)"/"N/A" -> []."""
    if raw in ("", "(null)", "N/A"):
        return []
    entries: list[Gres] = []
    for item in _split_outside_parens(raw):
        bare = re.sub(r"\([^)]*\)", "", item).strip()
        parts = bare.split(":")
        if not parts[0] or len(parts) > 3:
            raise ParseError(f"{what}: unreadable GRES entry {quote(item, 40)}")
        if len(parts) == 1:
            parts.append("1")
        count = parts[-1]
        gres_type = parts[1] if len(parts) == 3 else ""
        if gres_type == "(null)":
            gres_type = ""
        if not re.fullmatch(r"[0-9]{1,9}", count):
            raise ParseError(f"{what}: GRES count in {quote(item, 40)} is not a whole number")
        entries.append(Gres(parts[0], gres_type, int(count)))
    return entries


def _split_outside_parens(text: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item for item in items if item]


def node_state(raw: str) -> tuple[str, set[str]]:
    """`MIXED+DRAIN` -> ("MIXED", {"DRAIN"}); `IDLE*` -> ("IDLE", {"NOT_RESPONDING"})."""
    flags: set[str] = set()
    # sinfo/scontrol suffixes: * not responding, ~ powered off, # powering up, % powering
    # down, ! pending power down, $ maintenance, @ pending reboot, ^ rebooting.
    while raw and raw[-1] in "*~#%!$@^-":
        flags.add({"*": "NOT_RESPONDING", "$": "MAINT"}.get(raw[-1], "POWER"))
        raw = raw[:-1]
    parts = [p for p in raw.upper().split("+") if p]
    if not parts:
        raise ParseError(f"node State: empty or unreadable {quote(raw, 40)}")
    return parts[0], flags | set(parts[1:])
