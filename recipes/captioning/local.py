"""A captioning dataset on the user's disk (`captioning.source.dataset: local`), in either common layout:

- a folder with `captions.txt` (Kaggle's Flickr8k: an `image,caption` header, then one caption per
  line, several per image) and the images in `Images/`, `images/` or beside it; split by image with
  the seeded splitter (`source.pool_fractions`), so no image is in two splits;
- a Karpathy-style JSON (`dataset_flickr8k.json`, `dataset_coco.json`; the file, or a folder holding
  one): `images[]` with `filename`, optional `filepath`, `split` (train / val / test; restval joins
  train) and `sentences[].raw`, its split kept.

Every image is opened and decoded once here; every problem found (a missing, truncated or non-image
file, an image without captions, a caption without an image) is reported with its name, the first
few and then a count, in one error, before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from recipes.kit.errors import UserError
from recipes.kit.rows import stop_on

CAPTIONS_FILE = "captions.txt"
IMAGE_DIRS = ("Images", "images", "Flicker8k_Dataset")  # where captions.txt's names are looked up, else beside it
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "validation", "test": "test"}


def find_layout(local_path: str | None) -> tuple[str, Path]:
    """("captions", folder) or ("karpathy", the JSON file) for the user's local_path."""
    if not local_path:
        raise UserError("params.yaml: captioning.source.local_path must name a folder (or a Karpathy JSON) "
                        "when dataset is local")
    path = Path(local_path).expanduser()
    if path.is_file() and path.suffix == ".json":
        return "karpathy", path
    if path.is_dir() and (path / CAPTIONS_FILE).is_file():
        return "captions", path
    found = sorted(path.glob("dataset_*.json")) if path.is_dir() else []
    if len(found) == 1:
        return "karpathy", found[0]
    raise UserError(f"params.yaml: captioning.source.local_path {local_path!r} is neither a folder with "
                    f"{CAPTIONS_FILE} (image,caption lines) nor a Karpathy-style dataset_*.json (or a folder "
                    f"holding exactly one)")


def read_captions_file(path: Path) -> dict[str, list[str]]:
    """captions.txt → image name → its captions, in file order. A caption is everything after the first
    comma (captions have commas; file names do not); a quoted caption is unquoted."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not lines or lines[0].replace(" ", "").lower() != "image,caption":
        raise UserError(f"{path} must start with the header line `image,caption`")
    captions: dict[str, list[str]] = {}
    problems = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        name, _, caption = line.partition(",")
        caption = caption.strip()
        if len(caption) > 1 and caption[0] == caption[-1] == '"':
            caption = caption[1:-1].replace('""', '"')
        if not name.strip() or not caption:
            problems.append(f"line {number}: needs an image name and a caption, got {line[:60]!r}")
            continue
        captions.setdefault(name.strip(), []).append(caption)
    stop_on(problems, "problem", f" in {path}")
    return captions


def image_folder(folder: Path) -> Path:
    """Where a captions.txt folder keeps its images: the first of IMAGE_DIRS there, else the folder itself."""
    return next((folder / d for d in IMAGE_DIRS if (folder / d).is_dir()), folder)


def captions_layout(folder: Path) -> tuple[list[dict], list[str]]:
    """Entries {"name", "path", "captions"} of a captions.txt folder (sorted by name), and its problems."""
    captions = read_captions_file(folder / CAPTIONS_FILE)
    images = image_folder(folder)
    on_disk = {p.name for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    problems = [f"{name}: in {CAPTIONS_FILE} but not in {images}" for name in captions if name not in on_disk]
    problems += [f"{name}: an image without captions in {CAPTIONS_FILE}" for name in sorted(on_disk - set(captions))]
    entries = [{"name": name, "path": images / name, "captions": captions[name]}
               for name in sorted(captions) if name in on_disk]
    return entries, problems


def _karpathy_entry(item: object, root: Path) -> tuple[dict | None, str | None]:
    """One `images[]` item → ({"name", "path", "captions", "split"}, None) or (None, the problem)."""
    if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
        return None, f"{str(item)[:60]}: an image entry needs a filename"
    name = item["filename"]
    if item.get("split") not in KARPATHY_SPLITS:
        return None, f"{name}: split {item.get('split')!r} is not one of {', '.join(KARPATHY_SPLITS)}"
    sentences = item.get("sentences") if isinstance(item.get("sentences"), list) else []
    raws = [s["raw"].strip() for s in sentences if isinstance(s, dict) and isinstance(s.get("raw"), str)]
    if not any(raws):
        return None, f"{name}: an image without captions (no sentences[].raw)"
    folders = [root / item["filepath"]] if item.get("filepath") else [root / d for d in IMAGE_DIRS] + [root]
    path = next((f / name for f in folders if (f / name).is_file()), None)
    if path is None:
        return None, f"{name}: a caption without an image: no such file in {', '.join(map(str, folders))}"
    return {"name": name, "path": path, "captions": [r for r in raws if r],
            "split": KARPATHY_SPLITS[item["split"]]}, None


def karpathy_layout(path: Path) -> tuple[list[dict], list[str]]:
    """Entries {"name", "path", "captions", "split"} of a Karpathy JSON, and its problems."""
    try:
        images = json.loads(path.read_text(encoding="utf-8")).get("images")
    except (ValueError, AttributeError) as err:
        raise UserError(f"{path} is not a Karpathy-style JSON object with an images list ({err})") from err
    if not isinstance(images, list):
        raise UserError(f"{path} is not a Karpathy-style JSON: it has no images list")
    entries, problems = [], []
    for item in images:
        entry, problem = _karpathy_entry(item, path.parent)
        if problem:
            problems.append(problem)
        else:
            entries.append(entry)
    return entries, problems


def image_problems(entries: list[dict]) -> list[str]:
    """Each file that does not open and decode as an image (truncated, not an image at all), named."""
    from PIL import Image, UnidentifiedImageError

    problems = []
    for entry in entries:
        try:
            with Image.open(entry["path"]) as image:
                image.load()  # decodes every pixel: a truncated file fails here, not in prepare
        except (OSError, UnidentifiedImageError, SyntaxError) as err:
            problems.append(f"{entry['name']}: not a readable image ({type(err).__name__}: {str(err)[:60]})")
    return problems
