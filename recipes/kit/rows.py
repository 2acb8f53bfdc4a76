"""Raw rows checked where they are read: every bad row named by its file and line.

A recipe states its raw row as a `RowFormat`; `read_rows` reads a JSON-lines
file against it and `check_listed` checks rows built in memory (hub splits,
package files). Either raises one `UserError` that shows the first few bad
rows, with where each one is, and how many there are in all. No row is
repaired or dropped here: a bad row stops the stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterable

from recipes.kit.errors import UserError

TEXT, WORDS, TEXTS = "a non-empty string", "a non-empty list of non-empty strings", "a non-empty list of strings"
MAX_SHOWN = 3


@dataclass(frozen=True)
class RowFormat:
    """The fields a raw row must have (others are ignored) and which list fields pair up item by item."""

    fields: dict[str, str]  # name -> TEXT | WORDS | TEXTS
    same_length: tuple[str, str] | None = None
    allowed: dict[str, Collection[str]] = field(default_factory=dict)  # name -> its values (or its items')

    def with_allowed(self, **allowed: Collection[str]) -> RowFormat:
        """This format, also requiring each named field's value (or each item) to be one of `allowed`."""
        sets = {name: frozenset(values) for name, values in allowed.items()}  # every token is looked up
        return RowFormat(self.fields, self.same_length, {**self.allowed, **sets})


def _kind_ok(value: Any, kind: str) -> bool:
    if kind == TEXT:
        return isinstance(value, str) and bool(value.strip())
    if kind == WORDS:
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def row_problem(row: Any, fmt: RowFormat) -> str | None:
    """What is wrong with one row, in words, or None if it fits `fmt`."""
    if not isinstance(row, dict):
        return f"a row must be a JSON object with {', '.join(map(json.dumps, fmt.fields))}, got {type(row).__name__}"
    for name, kind in fmt.fields.items():
        if name not in row:
            return f"no {json.dumps(name)} field"
        if not _kind_ok(row[name], kind):
            return f"{json.dumps(name)} must be {kind}, got {_short(row[name])}"
    if fmt.same_length:
        a, b = fmt.same_length
        if len(row[a]) != len(row[b]):
            return f"{json.dumps(b)} has {len(row[b])} items but {json.dumps(a)} has {len(row[a])}"
    for name, values in fmt.allowed.items():
        items = row[name] if isinstance(row[name], list) else [row[name]]
        unknown = sorted({v for v in items if v not in values})
        if unknown:
            return f"{json.dumps(name)} has {_short(unknown[0])}, not one of {_short(sorted(values))}"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def stop_on(problems: list[str], noun: str, where: str = "") -> None:
    """One `UserError` counting the problems (`noun`, pluralised; `where` after it) and showing the first
    MAX_SHOWN of them; nothing when there are none."""
    if problems:
        more = f" (and {len(problems) - MAX_SHOWN} more)" if len(problems) > MAX_SHOWN else ""
        raise UserError(f"{len(problems)} {noun}{'s' * (len(problems) > 1)}{where}: "
                        + "; ".join(problems[:MAX_SHOWN]) + more)


def _collect(items: Iterable[tuple[str, Any, str | None]], fmt: RowFormat, what: str) -> list[dict]:
    """The good rows of (location, row, reason it could not be read) items, or one `UserError`
    showing the first few bad ones ("where: problem") and how many there are."""
    good, bad = [], []
    for where, row, unreadable in items:
        problem = unreadable or row_problem(row, fmt)
        if problem:
            bad.append(f"{where}: {problem}")
        else:
            good.append(row)
    stop_on(bad, "bad row")
    if not good:
        raise UserError(f"{what} has no rows: it needs at least one")
    return good


def check_rows(located: Iterable[tuple[str, Any]], fmt: RowFormat, what: str) -> list[dict]:
    """The rows of (location, row) pairs, or a `UserError` listing the first bad ones and their count.

    `what` names the data in the message when it has no rows at all.
    """
    return _collect(((where, row, None) for where, row in located), fmt, what)


def check_listed(rows: list[Any], fmt: RowFormat, what: str) -> list[dict]:
    """`check_rows` for rows built in memory (a hub split, a package file): located as `what row N`."""
    return check_rows(((f"{what} row {i}", row) for i, row in enumerate(rows, 1)), fmt, what)


def _parse_lines(path: Path) -> Iterable[tuple[str, Any, str | None]]:
    """(file:line, value, None) for each non-blank line, or (file:line, None, reason) if it cannot be read."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield where, None, f"not UTF-8 (byte {raw[err.start]:#04x} at column {err.start + 1})"
                continue
            if line.strip():
                try:
                    yield where, json.loads(line), None
                except json.JSONDecodeError as err:
                    yield where, None, f"not valid JSON ({err.msg} at column {err.colno})"


def read_rows(path: Path, fmt: RowFormat, fix: str = "") -> list[dict]:
    """The rows of a JSON-lines file, each checked against `fmt`; messages say `path:line`.

    `fix` tells the user how to get the file when it is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} is missing" + (f": {fix}" if fix else ""))
    return _collect(_parse_lines(path), fmt, str(path))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Write rows as JSON lines (UTF-8)."""
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
