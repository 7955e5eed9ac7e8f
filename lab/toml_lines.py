"""Where a table or key sits in a TOML file, so an error can name its line.

tomllib returns values without positions; this finds them again in the text,
best effort: a key inside its `[table]` header, or a dotted or inline key
anywhere when the table has no header of its own.
"""

from __future__ import annotations

import re


def line_of(lines: list[str], table: str, key: str | None = None) -> int | None:
    """Line number (1-based) of `key` inside `[table]`, or of the table's header when key is None."""
    header = re.compile(r"^\s*\[\s*" + _dotted(table) + r"\s*\]")
    start = next((no for no, line in enumerate(lines, 1) if header.match(line)), None)
    if start is None:
        if key is None:
            return None
        # the table may be written inline or dotted inside its parent: search the key alone
        pattern = re.compile(r"^\s*(?:[\w.\"'-]+\.)?" + re.escape(key) + r"\s*=")
        return next((n for n, text in enumerate(lines, 1) if pattern.match(text)), None)
    if key is None:
        return start
    pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
    for no in range(start, len(lines)):
        line = lines[no]
        if re.match(r"^\s*\[", line):
            break
        if pattern.match(line):
            return no + 1
    return start


def where(path: object, lines: list[str], table: str, key: str | None = None) -> str:
    """`file:line` of a table or key (just `file` when it cannot be found)."""
    line = line_of(lines, table, key)
    return f"{path}:{line}" if line else str(path)


def _dotted(table: str) -> str:
    """A regex for a dotted table name, each part bare or quoted, spaces allowed around dots."""
    parts = [r"[\"']?" + re.escape(part) + r"[\"']?" for part in table.split(".")]
    return r"\s*\.\s*".join(parts)
