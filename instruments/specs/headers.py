"""SCPI header patterns and how a program message splits into headers.

A pattern is written as the manuals print it: long form with the short form
in capitals, [optional] nodes, '#' for a numeric suffix, e.g.
'[SOURce:]VOLTage[:LEVel]:AC?' or ':NUMeric[:NORMal]:ITEM#'. Instruments
accept the long or the short form of each mnemonic in any case.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def _short_form(word: str) -> str:
    short = ""
    for ch in word:
        if ch.isupper() or ch.isdigit() or ch in "*_":
            short += ch
        else:
            break
    return short


def mnemonic_regex(mnemonic: str) -> str:
    """Regex of one mnemonic ('VOLTage', 'ELEMent#'): its short or long form, the suffix as a group."""
    suffix = mnemonic.endswith("#")
    word = mnemonic[:-1] if suffix else mnemonic
    short = _short_form(word)
    long = word.upper()
    options = {re.escape(short), re.escape(long)} if short else {re.escape(long)}
    body = "(?:" + "|".join(sorted(options, key=len, reverse=True)) + ")"
    return body + (r"(\d*)" if suffix else "")


def compile_header(pattern: str) -> re.Pattern[str]:
    """Regex for a header pattern like '[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC?' or ':NUMeric:ITEM#'."""
    query = pattern.endswith("?")
    body = pattern[:-1] if query else pattern
    body = body[1:] if body.startswith(":") else body  # the leading colon is always optional
    out = []
    i = 0
    while i < len(body):
        if body[i] == "[":
            j = body.index("]", i)
            inner = body[i + 1 : j]
            parts = [p for p in inner.split(":") if p]
            lead = inner.startswith(":")
            seg = ""
            for k, p in enumerate(parts):
                if lead or k > 0:
                    seg += ":"
                seg += mnemonic_regex(p)
            if inner.endswith(":"):
                seg += ":"
            out.append(f"(?:{seg})?")
            i = j + 1
        elif body[i] == ":":
            out.append(":")
            i += 1
        else:
            j = i
            while j < len(body) and body[j] not in ":[":
                j += 1
            out.append(mnemonic_regex(body[i:j]))
            i = j
    regex = "^:?" + "".join(out) + (r"\?" if query else "") + "$"
    return re.compile(regex, re.IGNORECASE)


def spellings(pattern: str, suffix: str = "1") -> tuple[str, str]:
    """Two headers the pattern accepts: the shortest (short forms, no optional nodes) and the longest."""
    query = pattern.endswith("?")
    body = pattern[:-1] if query else pattern
    without = re.sub(r"\[[^\]]*\]", "", body)
    with_all = body.replace("[", "").replace("]", "")

    def render(text: str, form: Callable[[str], str]) -> str:
        nodes = [n for n in text.split(":") if n]
        out = []
        for node in nodes:
            numbered = node.endswith("#")
            word = node[:-1] if numbered else node
            out.append(form(word) + (suffix if numbered else ""))
        return ":".join(out) + ("?" if query else "")

    return render(without, lambda w: _short_form(w) or w.upper()), render(with_all, str.upper)


def split_outside(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside quoted strings and parentheses (channel lists '(@1,2)'), stripped."""
    parts, current, quote, depth = [], "", "", 0
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == separator and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    parts.append(current.strip())
    return parts


def split_units(message: str) -> list[str]:
    """The message units of a program message (split at ';'), empty ones dropped."""
    return [unit for unit in split_outside(message, ";") if unit]


def resolve(unit: str, path: list[str], known: Callable[[str], bool]) -> tuple[str, list[str]]:
    """Full header of a message unit, as SCPI's tree traversal reads it, and the path it leaves.

    A header without a leading colon continues from the node of the previous
    unit in the same message (``CURR:SAS:ISC 5;IMP 4`` sets CURR:SAS:IMP);
    where that names no command (`known` says), it is read from the root, as
    lenient instruments do. Common commands (``*...``) leave the path alone.
    """
    header = unit.split(None, 1)[0]
    rest = unit[len(header) :]
    if header.startswith("*"):
        return unit, path
    full = header.lstrip(":")
    if path and not header.startswith(":"):
        candidate = ":".join([*path, header])
        if known(candidate):
            full = candidate
    return full + rest, full.split(":")[:-1]
