"""The project's own files: written so that a failed stage changes none of its outputs,
and read back so that a damaged or foreign file is one clear message, never code run.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from recipes.kit.errors import UserError


def _write_failure(path: Path, staging: Path, err: OSError) -> UserError:
    """The one-line message for an OS error while writing `path` (disk full, permissions, ...)."""
    reason = err.strerror or str(err)
    named = Path(err.filename) if isinstance(err.filename, (str, os.PathLike)) else None
    if named is not None and not named.resolve().is_relative_to(staging.resolve()):
        reason += f": {named}"  # the failing file is not the output being staged, so name it
    fix = "free some space and rerun" if err.errno == errno.ENOSPC else "fix that and rerun"
    return UserError(f"could not write {path}: {reason}; none of the stage's outputs changed: {fix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only on success.

    Works for files and directories: whatever the caller creates at the
    yielded path replaces `path` in one rename. An OS error (a full disk,
    a read-only folder) becomes a `UserError` naming `path` and the reason.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as err:
        raise _write_failure(path, path.parent, err) from err
    staged = tmp / path.name
    try:
        yield staged
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(staged, path)
    except OSError as err:
        raise _write_failure(path, tmp, err) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_paths(*paths: str | Path) -> Iterator[list[Path]]:
    """`atomic_path` for several outputs at once: all are written to temporary paths first,
    and they replace their targets only after every one was written."""
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_path(p)) for p in paths]


def json_text(data: Any) -> str:
    """`data` as the project's JSON files hold it: indented, keys sorted, a final newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    """Write `data` as pretty JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json_text(data))


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_torch(path: Path, obj: Any) -> None:
    """`torch.save` to `path` (not atomic by itself: write to a path `atomic_path` gave).

    Serialised in memory first, so that a full disk is an ordinary OSError
    ("No space left on device") instead of torch's "unexpected pos".
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    Path(path).write_bytes(buffer.getbuffer())


def load_torch(path: str | Path, remake: str, map_location: str | torch.device = "cpu") -> Any:
    """Load a file this project wrote with `torch.save`, as data only (`weights_only=True`).

    A missing, truncated or foreign file (one that would need code to load)
    is a `UserError` naming it and `remake`, the command that rebuilds it.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} is missing: run `{remake}` to make it")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # zip errors, unpickling refusals and torch's RuntimeErrors alike
        reason = " ".join(str(err).split())[:120]
        raise UserError(f"{path} cannot be loaded as data ({type(err).__name__}: {reason}); it is truncated or "
                        f"was not written by this project: run `{remake}` to rebuild it") from err


def read_json(path: str | Path, remake: str) -> Any:
    """A JSON file this project wrote; missing or damaged is a `UserError` naming `remake`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} is missing: run `{remake}` to make it")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is damaged ({err}): run `{remake}` to rebuild it") from err
