"""Captioning data: the generated digit strips, Flickr8k from the hub, and preparing images and
captions (data/raw/captioning → data/prepared/captioning; Flickr8k images become frozen ResNet features).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

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


def download(section: dict, raw_dir: Path, seed: int) -> None:
    """Generate the digit strips, or fetch Flickr8k images and captions."""
    source = section["source"]
    if source["dataset"] == "embedded":
        splits = generate_strips(source, seed)
        for split, data in splits.items():
            write_torch(raw_dir / f"{split}.pt", {"images": data["images"], "captions": data["captions"]})
        info = {"dataset": "digit strips from UCI optical digits (scikit-learn load_digits)", "source": "generated",
                "seed": seed, "max_digits": source["max_digits"], "format": "pt",
                "pools": {k: len(v["pool"]) for k, v in splits.items()},
                "rows": {k: len(v["captions"]) for k, v in splits.items()}}
    else:
        dsd, resolved = sources.load_hub(HUB_REPO, None, None, "captioning")
        (raw_dir / "images").mkdir()
        counts = {}
        for split in SPLITS:
            pictures = rows_from_hub(dsd[split])
            for i, row in enumerate(pictures):
                row["image"].convert("RGB").save(raw_dir / "images" / f"{split}-{i}.jpg")
                row["image"] = f"{split}-{i}.jpg"
            rows.write_jsonl(raw_dir / f"{split}.jsonl", rows.check_listed(pictures, ROW, f"{HUB_REPO} {split}"))
            counts[split] = len(pictures)
        info = {"dataset": HUB_REPO, "source": "hub", "revision": resolved, "format": "jsonl", "rows": counts}
    sources.write_source(raw_dir, info)


def image_features(images: Tensor, backbone: nn.Module, batch_size: int = 64) -> Tensor:
    """Frozen CNN features for normalised images [N, 3, H, W] → [N, F], computed once."""
    backbone.eval()
    with torch.no_grad():
        return torch.cat([backbone(images[i : i + batch_size]).flatten(1) for i in range(0, len(images), batch_size)])


def pretrained_backbone(name: str) -> nn.Module:
    """torchvision's ImageNet ResNet without its classifier; a clear error if the weights can't be fetched."""
    import torchvision

    try:
        model = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.DEFAULT)
    except Exception as err:
        raise UserError(f"could not fetch the {name} ImageNet weights ({type(err).__name__}); they need internet "
                        "once (then torch's cache): connect, or use captioning.source.dataset=embedded") from err
    model.fc = nn.Identity()
    return model


def normalised(image) -> Tensor:
    """A PIL image as the backbone expects it: RGB, 224×224, ImageNet-normalised [3, 224, 224]."""
    import torchvision.transforms.functional as tf

    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    return tf.normalize(tf.to_tensor(tf.resize(image.convert("RGB"), [224, 224])), mean, std)


def _load_hub_images(raw_dir: Path, pictures: list[dict]) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        return torch.stack([normalised(Image.open(raw_dir / "images" / r["image"])) for r in pictures])
    except (OSError, UnidentifiedImageError) as err:
        raise UserError(f"cannot read an image of {raw_dir / 'images'} ({err}): run `{REMAKE_RAW}`") from err


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


def read_raw(section: dict, raw_dir: Path) -> dict[str, dict]:
    """Per split: "inputs" (uint8 strips or CNN features), "captions" (token lists per reference)
    and "texts" (the references as raw text, for sacreBLEU)."""
    fmt = sources.read_source(raw_dir)["format"]
    if fmt == "pt":
        return {s: read_strips(raw_dir / f"{s}.pt") for s in SPLITS}
    tokenize, backbone = text.tokenizer("basic_english"), pretrained_backbone(section["data"]["backbone"])
    out = {}
    for split in SPLITS:
        pictures = rows.read_rows(raw_dir / f"{split}.jsonl", ROW, fix=f"run `{REMAKE_RAW}`")
        out[split] = {"inputs": image_features(_load_hub_images(raw_dir, pictures), backbone),
                      "captions": [[tokenize(c) for c in r["captions"]] for r in pictures],
                      "texts": [r["captions"] for r in pictures]}
    return out


def prepare(section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
    """Vocabulary and one training pair per (image, reference); references kept for BLEU."""
    data, raw = section["data"], read_raw(section, raw_dir)
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
