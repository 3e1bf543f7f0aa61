"""Compile message patterns for speed: split into alternatives, each keyed by a whole word.

Python's ``re`` is slow on case-insensitive alternations (tens of microseconds per pattern
on a short message), and the classifier runs on every failure. So each rule's pattern is
lowercased, split at its top-level ``|``, and each alternative gets a *trigger*: the
longest word it certainly contains whole. A message is tokenised once into a set of
words; only alternatives whose trigger is in that set are searched. An alternative
without such a word is searched every time (still fast: it is one alternative).

The one semantic consequence: the first and last words of an alternative match whole
words of the message (``slowdown`` matches "SlowDown" and "(SlowDown)", not
"slowdowns"). Write ``slowdowns?`` for that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Alternative", "lower_pattern", "split_alternatives", "tokens", "trigger"]

_SPECIAL = set(".^$*+?{}[]\\|()")
_QUANT = set("?*{+")
_BOUNDARY_ESCAPES = set("bsWB")  # \b, \s, \W: the neighbour of a word edge is not a word char
_WORD = re.compile(r"[a-z0-9]+")
_TOKEN_TABLE = bytes(c if (48 <= c <= 57 or 97 <= c <= 122) else 32 for c in range(256))


@dataclass(frozen=True, slots=True)
class Alternative:
    pattern: re.Pattern[str]
    trigger: str | None


def lower_pattern(pattern: str) -> str:
    """Lowercase a regex source without touching escapes (``\\S`` stays ``\\S``)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append(ch.lower())
        i += 1
    return "".join(out)


def split_alternatives(pattern: str) -> list[str]:
    """Split at top-level ``|`` (not inside groups, classes or escapes)."""
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _items(alt: str) -> list[tuple[str, str]]:
    """The alternative as ("lit", char) / ("edge", "") / ("other", "") items; optional chars are "other"."""
    items: list[tuple[str, str]] = []
    i = 0
    n = len(alt)
    while i < n:
        ch = alt[i]
        if ch == "\\" and i + 1 < n:
            nxt = alt[i + 1]
            if nxt in _BOUNDARY_ESCAPES:
                items.append(("edge", ""))
            elif nxt.isalnum():
                items.append(("other", ""))  # \d, \w, \S...
            else:
                items.append(("lit", nxt))
            i += 2
        elif ch in "([":
            # skip the whole group or class
            close = ")" if ch == "(" else "]"
            depth = 0
            j = i
            while j < n:
                c = alt[j]
                if c == "\\":
                    j += 2
                    continue
                if c == ch:
                    depth += 1
                elif c == close:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            items.append(("other", ""))
            i = j + 1
        elif ch in "^$":
            items.append(("edge", ""))
            i += 1
        elif ch == "{":
            close_at = alt.find("}", i)
            items.append(("other", ""))
            i = n if close_at < 0 else close_at + 1
        elif ch in _SPECIAL:
            items.append(("other", ""))
            i += 1
        else:
            items.append(("lit", ch))
            i += 1
        # a quantifier makes the previous item optional or repeated: not a certain literal
        if i < n and alt[i] in _QUANT and items and items[-1][0] == "lit":
            items[-1] = ("other", "")
    return items


def trigger(alt: str) -> str | None:
    """The longest word certainly present, whole, in any match of ``alt`` (or None)."""
    items = _items(alt)
    best: str | None = None
    n = len(items)
    i = 0
    while i < n:
        if items[i][0] != "lit":
            i += 1
            continue
        j = i
        while j < n and items[j][0] == "lit":
            j += 1
        run = "".join(c for _, c in items[i:j])
        left_ok = i == 0 or items[i - 1][0] == "edge"
        right_ok = j == n or items[j][0] == "edge"
        for m in _WORD.finditer(run):
            whole_left = m.start() > 0 or left_ok
            whole_right = m.end() < len(run) or right_ok
            word = m.group(0)
            if whole_left and whole_right and (best is None or len(word) > len(best)):
                best = word
        i = j
    return best


def tokens(lowered: str) -> set[str]:
    """The words of a lowercased message (runs of a-z and 0-9)."""
    return set(lowered.encode("utf-8", "ignore").translate(_TOKEN_TABLE).decode("ascii").split())


def compile_alternatives(pattern: str) -> list[Alternative]:
    """Lowercased, split alternatives with their triggers.

    A leading ``\\b`` is dropped from the compiled search (it defeats ``re``'s fast prefix
    scan); the trigger word already stands for the word edge.
    """
    out = []
    for alt in split_alternatives(lower_pattern(pattern)):
        if not alt:
            continue
        word = trigger(alt)
        search = alt[2:] if alt.startswith("\\b") and word is not None else alt
        out.append(Alternative(re.compile(search), word))
    return out
