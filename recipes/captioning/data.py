"""Captioning data: the generated digit strips, Flickr8k from the hub, a dataset on the user's disk
(recipes/captioning/local.py), and preparing images and captions (data/raw/captioning →
data/prepared/captioning). Real images become either frozen ResNet features (`data.backbone: resnet18`)
or resized RGB bytes for a CNN trained end to end (`data.backbone: none`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from recipes.captioning import local
from recipes.kit import rows, sources, text
from recipes.kit.atomic import load_torch, write_torch
from recipes.kit.errors import UserError
from recipes.kit.metrics import exact_match, sacre_bleu
from recipes.kit.splits import save_prepared

HUB_REPO = "jxie/flickr8k"
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPLITS = ("train", "validation", "test")
ROW = rows.RowFormat({"image": rows.TEXT, "captions": rows.TEXTS})  # Flickr8k's raw rows
REMAKE_RAW = "dvc repro download@captioning"


def split_pools(n_images: int, fractions: dict, seed: int) -> dict[str, Tensor]:
    """Disjoint index pools of the source images for train/validation/test."""
    perm = torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))
    n_valid, n_test = (int(n_images * fractions[k]) for k in ("validation", "test"))
    return {"validation": perm[:n_valid], "test": perm[n_valid : n_valid + n_test], "train": perm[n_valid + n_test :]}


def compose_strips(images: Tensor, labels: Tensor, pool: Tensor, count: int, max_digits: int,
                   generator: torch.Generator) -> tuple[Tensor, list[list[str]]]:
    """`count` strips of 1..max_digits pool images side by side (right-padded with blank),
    and their captions as digit words. images [N, 8, 8] → strips [count, 8, 8*max_digits]."""
    size = images.size(-1)
    strips = torch.zeros(count, size, size * max_digits, dtype=torch.uint8)
    captions = []
    for i in range(count):
        n = int(torch.randint(1, max_digits + 1, (1,), generator=generator))
        picks = pool[torch.randint(len(pool), (n,), generator=generator)]
        strips[i, :, : n * size] = torch.cat(list(images[picks]), dim=1)
        captions.append([DIGIT_WORDS[int(labels[p])] for p in picks])
    return strips, captions


def generate_strips(source: dict, seed: int) -> dict[str, dict]:
    """Digit strips from scikit-learn's UCI digits, composed from disjoint image pools."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.uint8)  # [1797, 8, 8], values 0..16
    labels = torch.tensor(digits.target)
    pools = split_pools(len(images), source["pool_fractions"], seed)
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for split in SPLITS:
        strips, captions = compose_strips(images, labels, pools[split], source["strips"][split],
                                          source["max_digits"], generator)
        out[split] = {"images": strips, "captions": [[c] for c in captions], "pool": pools[split]}
    return out


def rows_from_hub(split) -> list[dict]:
    """Flickr8k rows (`image`, `caption_0` … `caption_4`) to image + reference list rows."""
    columns = sorted(c for c in split.column_names if c.startswith("caption_"))
    return [{"image": row["image"], "captions": [row[c] for c in columns]} for row in split]


def local_splits(source: dict, seed: int) -> tuple[dict[str, list[dict]], dict]:
    """The user's images and captions per split, every image checked, and what SOURCE.json says of them."""
    layout, path = local.find_layout(source["local_path"])
    entries, problems = local.captions_layout(path) if layout == "captions" else local.karpathy_layout(path)
    rows.stop_on(problems + local.image_problems(entries), "problem", f" in {path}")
    if layout == "captions":  # split by image: no image in two splits
        pools = split_pools(len(entries), source["pool_fractions"], seed)
        splits = {split: [entries[i] for i in sorted(pools[split].tolist())] for split in SPLITS}
    else:
        splits = {split: [e for e in entries if e["split"] == split] for split in SPLITS}
    empty = [split for split in SPLITS if not splits[split]]
    if empty:
        raise UserError(f"{path}: no image for the {' and '.join(empty)} split"
                        + (": add more images or raise captioning.source.pool_fractions" if layout == "captions"
                           else ": give some images that split in the JSON"))
    file = path / local.CAPTIONS_FILE if layout == "captions" else path
    info = {"dataset": "local", "source": str(path), "layout": layout, "captions_sha256": sources.sha256_of(file)}
    return splits, info


def write_image_rows(raw_dir: Path, split: str, pictures: list[dict], what: str) -> None:
    """`<split>.jsonl` rows {"image": its file under images/, "captions": [str]}, checked."""
    rows.write_jsonl(raw_dir / f"{split}.jsonl", rows.check_listed(pictures, ROW, f"{what} {split}"))


def download(section: dict, raw_dir: Path, seed: int) -> None:
    """Generate the digit strips, fetch Flickr8k images and captions, or check and copy the user's own."""
    source = section["source"]
    if source["dataset"] == "embedded":
        splits = generate_strips(source, seed)
        for split, data in splits.items():
            write_torch(raw_dir / f"{split}.pt", {"images": data["images"], "captions": data["captions"]})
        info = {"dataset": "digit strips from UCI optical digits (scikit-learn load_digits)", "source": "generated",
                "seed": seed, "max_digits": source["max_digits"], "format": "pt",
                "pools": {k: len(v["pool"]) for k, v in splits.items()},
                "rows": {k: len(v["captions"]) for k, v in splits.items()}}
    elif source["dataset"] == "local":
        splits, info = local_splits(source, seed)
        (raw_dir / "images").mkdir()
        for split, entries in splits.items():
            pictures = [{"image": f"{split}-{i}{e['path'].suffix.lower()}", "captions": e["captions"]}
                        for i, e in enumerate(entries)]
            for entry, picture in zip(entries, pictures):
                shutil.copyfile(entry["path"], raw_dir / "images" / picture["image"])
            write_image_rows(raw_dir, split, pictures, info["source"])
        info.update(format="jsonl", rows={split: len(entries) for split, entries in splits.items()})
    else:
        dsd, resolved = sources.load_hub(HUB_REPO, None, None, "captioning")
        (raw_dir / "images").mkdir()
        counts = {}
        for split in SPLITS:
            pictures = rows_from_hub(dsd[split])
            for i, row in enumerate(pictures):
                row["image"].convert("RGB").save(raw_dir / "images" / f"{split}-{i}.jpg")
                row["image"] = f"{split}-{i}.jpg"
            write_image_rows(raw_dir, split, pictures, HUB_REPO)
            counts[split] = len(pictures)
        info = {"dataset": HUB_REPO, "source": "hub", "revision": resolved, "format": "jsonl", "rows": counts}
    sources.write_source(raw_dir, info)


FEATURE_BATCH = 64  # images per backbone call: a whole split of 224 × 224 floats would not fit in memory


def pretrained_backbone(name: str) -> nn.Module:
    """torchvision's ImageNet ResNet-18 up to its last conv block (images [B, 3, 224, 224] → [B, 512, 7, 7]),
    its weights loaded as data only; a one-line error when they cannot be fetched."""
    import torchvision

    weights = torchvision.models.ResNet18_Weights.DEFAULT
    try:
        state = weights.get_state_dict(progress=False, weights_only=True)
    except Exception as err:
        raise UserError(f"could not get the {name} ImageNet weights ({type(err).__name__}): they are fetched once "
                        "into torch's hub cache ($TORCH_HOME/hub/checkpoints, ~/.cache/torch by default); connect "
                        "once or copy the file there, or set captioning.data.backbone=none to train a small CNN "
                        "on the images instead") from err
    model = torchvision.models.resnet18(weights=None)
    model.load_state_dict(state)
    return nn.Sequential(*list(model.children())[:-2])  # without the average pool and the classifier


def normalised(image) -> Tensor:
    """A PIL image as the backbone expects it: RGB, 224×224, ImageNet-normalised [3, 224, 224]."""
    import torchvision.transforms.functional as tf

    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    return tf.normalize(tf.to_tensor(tf.resize(image.convert("RGB"), [224, 224])), mean, std)


def rgb_bytes(image, size: int) -> Tensor:
    """A PIL image resized to size × size RGB bytes [3, size, size] (uint8), for `backbone: none`."""
    import torchvision.transforms.functional as tf

    return tf.pil_to_tensor(image.convert("RGB").resize((size, size)))


def image_features(images: Tensor, backbone: nn.Module) -> Tensor:
    """Frozen features of normalised images [N, 3, H, W] → their grid of regions [N, R, F] (float16)."""
    backbone.eval()
    with torch.no_grad():
        return backbone(images).flatten(2).transpose(1, 2).half()  # [N, F, h, w] → [N, h*w, F]


def encode_images(images: Iterable, data: dict) -> tuple[Tensor, str]:
    """PIL images → what the model's encoder reads, and its kind (model.py): resized RGB bytes [N, 3, S, S]
    ("rgb") for `backbone: none`, else frozen backbone features [N, R, F] ("features"). The images may be a
    generator: each is read, encoded and let go, so a split never sits in memory at full size."""
    if data["backbone"] == "none":
        return torch.stack([rgb_bytes(image, data["image_size"]) for image in images]), "rgb"
    backbone, chunks, batch = pretrained_backbone(data["backbone"]), [], []
    for image in images:
        batch.append(normalised(image))
        if len(batch) == FEATURE_BATCH:
            chunks.append(image_features(torch.stack(batch), backbone))
            batch = []
    if batch:
        chunks.append(image_features(torch.stack(batch), backbone))
    return torch.cat(chunks), "features"


def _load_images(raw_dir: Path, pictures: list[dict]) -> Iterator:
    """The raw split's images, one at a time, as RGB PIL images."""
    from PIL import Image, UnidentifiedImageError

    for row in pictures:
        try:
            with Image.open(raw_dir / "images" / row["image"]) as image:
                yield image.convert("RGB")
        except (OSError, UnidentifiedImageError) as err:
            raise UserError(f"cannot read {raw_dir / 'images' / row['image']} ({err}): run `{REMAKE_RAW}`") from err


def read_strips(path: Path) -> dict:
    """One split of generated digit strips, loaded as data only and checked: uint8 images [N, H, W]
    and one list of reference captions per image."""
    data = load_torch(path, REMAKE_RAW)
    images = data.get("images") if isinstance(data, dict) else None
    captions = data.get("captions") if isinstance(data, dict) else None
    if not (isinstance(images, Tensor) and images.dtype == torch.uint8 and images.dim() == 3
            and isinstance(captions, list) and len(captions) == len(images)):
        raise UserError(f"{path} is not a split of digit strips (uint8 images [N, H, W] and N caption lists): "
                        f"run `{REMAKE_RAW}` to rebuild it")
    return {"inputs": images, "captions": captions, "texts": [[" ".join(c) for c in refs] for refs in captions]}


def read_raw(section: dict, raw_dir: Path) -> tuple[dict[str, dict], str]:
    """Per split: "inputs" (uint8 strips, RGB bytes or frozen features), "captions" (token lists per
    reference) and "texts" (the references as raw text, for sacreBLEU); and the inputs' kind (model.py)."""
    fmt = sources.read_source(raw_dir)["format"]
    if fmt == "pt":
        return {s: read_strips(raw_dir / f"{s}.pt") for s in SPLITS}, "strip"
    tokenize, out, kind = text.tokenizer("basic_english"), {}, ""
    for split in SPLITS:
        pictures = rows.read_rows(raw_dir / f"{split}.jsonl", ROW, fix=f"run `{REMAKE_RAW}`")
        inputs, kind = encode_images(_load_images(raw_dir, pictures), section["data"])
        out[split] = {"inputs": inputs, "captions": [[tokenize(c) for c in r["captions"]] for r in pictures],
                      "texts": [r["captions"] for r in pictures]}
    return out, kind


def prepare(section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
    """Vocabulary and one training pair per (image, reference); references kept for BLEU."""
    data, (raw, kind) = section["data"], read_raw(section, raw_dir)
    common = most_frequent_caption(raw["train"]["captions"])
    common_bleu, signature = sacre_bleu([" ".join(common)] * len(raw["test"]["texts"]), raw["test"]["texts"],
                                        lowercases(sources.read_source(raw_dir)))
    specials = (text.PAD, text.UNK, text.BOS, text.EOS)
    itos = text.build_vocab([c for refs in raw["train"]["captions"] for c in refs], data["min_freq"], specials=specials)
    tensors = {}
    for name, split in zip(("train", "valid", "test"), SPLITS):
        refs = raw[split]["captions"]
        owner = torch.tensor([i for i, r in enumerate(refs) for _ in r])  # which image each caption describes
        caps, cap_len = text.encode([c[: data["max_len"]] for r in refs for c in r], itos, add_bos_eos=True)
        tensors[name] = {"inputs": raw[split]["inputs"], "owner": owner, "caption": caps, "caption_len": cap_len,
                         "references": refs, "reference_text": raw[split]["texts"]}
    meta = {"vocab_size": len(itos), "unit": "examples", "input_shape": list(tensors["train"]["inputs"].shape[1:]),
            "encoder_input": kind,
            "source": sources.read_source(raw_dir),
            "sizes": {k: len(v["references"]) for k, v in tensors.items()},
            "sacrebleu_signature": signature,
            "baseline": {"name": "most frequent training caption", "sacrebleu": common_bleu,
                         "exact_match": exact_match([common] * len(raw["test"]["captions"]), raw["test"]["captions"])}}
    save_prepared(out_dir, tensors, itos, meta)


def most_frequent_caption(train: list[list[list[str]]]) -> list[str]:
    """The training caption written most often (the baseline's answer for every image)."""
    from collections import Counter

    return list(Counter(tuple(c) for refs in train for c in refs).most_common(1)[0][0])


def lowercases(source: dict) -> bool:
    """Whether SOURCE.json's captions are lower-cased on the way in (Flickr8k's jsonl rows go through
    `basic_english`; generated strips are already lower-case words), so sacreBLEU must be too."""
    return source["format"] == "jsonl"
