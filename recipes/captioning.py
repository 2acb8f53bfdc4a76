"""Captioning: one-to-many. One image in, a word sequence out.

    python -m stages.train captioning lstm 0   (run by `dvc repro`)

Raw format (data/raw/captioning/), per split (train, validation, test):
- embedded digit strips: <split>.pt with "images" uint8 [N, 8, 8*max_digits]
  and "captions" (a list of reference word lists per image);
- Flickr8k: <split>.jsonl rows {"image": file under images/, "captions": [str]}.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from recipes import rows, sources, text
from recipes.atomic import load_torch, write_torch
from recipes.batching import bucket_batches
from recipes.cells import MODEL_SCHEMA, Recurrent
from recipes.contract import HIGHER, LOWER, Step
from recipes.engine import TRAIN_SCHEMA
from recipes.errors import UserError
from recipes.metrics import corpus_bleu, exact_match, sacre_bleu
from recipes.params import Field
from recipes.splits import load_prepared, save_prepared

TOPOLOGY = "one-to-many"
METRIC = "exact_match"  # picks the best epoch on digit strips; real captions use SENTENCE_METRIC
SENTENCE_METRIC = "bleu4"  # a caption equal to one of five human ones is rare: exact match hardly moves
HEADLINE = "exact_match"
DIRECTIONS = {"exact_match": HIGHER, "bleu1": HIGHER, "bleu2": HIGHER, "bleu3": HIGHER, "bleu4": HIGHER,
              "sacrebleu": HIGHER, "loss": LOWER}
HUB_REPO = "jxie/flickr8k"
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPLITS = ("train", "validation", "test")
ROW = rows.RowFormat({"image": rows.TEXT, "captions": rows.TEXTS})  # Flickr8k's raw rows
REMAKE_RAW = "dvc repro download@captioning"

SCHEMA = {
    "source": {
        "dataset": Field(str, choices=("embedded", "flickr8k")),
        "max_digits": Field(int, min=1, max=10),
        "strips": {"train": Field(int, min=1), "validation": Field(int, min=1), "test": Field(int, min=1)},
        "pool_fractions": {"validation": Field(float, min=0.01, max=0.4), "test": Field(float, min=0.01, max=0.4)},
    },
    "data": {
        "min_freq": Field(int, min=1),
        "max_len": Field(int, min=1),
        "backbone": Field(str, choices=("resnet18",)),
    },
    # The decoder is unidirectional: it generates left to right.
    "model": {**{k: v for k, v in MODEL_SCHEMA.items() if k != "bidirectional"}, "channels": Field(int, min=1),
              "max_output_len": Field(int, min=1)},
    "train": {**TRAIN_SCHEMA, "select_by": Field(str, choices=("auto", "exact_match", "bleu4", "loss"))},
    "evaluate": {"samples": Field(int, min=0), "beam_size": Field(int, min=1)},
}


# ---------------------------------------------------------------- generate

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


# ---------------------------------------------------------------- download

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


# ----------------------------------------------------------------- prepare

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


# ------------------------------------------------------------------- model

class StripEncoder(nn.Module):
    """A small CNN over a digit strip [B, 8, W] → a vector [B, out]."""

    def __init__(self, height: int, width: int, channels: int, out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.proj = nn.Linear(2 * channels * (height // 2) * (width // 2), out)

    def forward(self, images: Tensor) -> Tensor:
        x = images.float().unsqueeze(1) / 16.0  # [B, 1, 8, W], UCI pixels are 0..16
        return self.proj(self.conv(x).flatten(1))


class Captioner(nn.Module):
    """Image encoder → the decoder's initial state → cell → vocabulary.

    The image enters once, as the initial state (the one-to-many picture); for
    an LSTM it sets both h0 and c0, as in Show, Attend and Tell.
    """

    def __init__(self, encoder_factory, cell: str, vocab: int, embed: int, hidden: int, layers: int,
                 dropout: float) -> None:
        super().__init__()
        self.rnn = Recurrent(cell, embed, hidden, layers, False, dropout)
        self.image_encoder = encoder_factory(self.rnn.state_tensors * layers * hidden)
        self.embed = nn.Embedding(vocab, embed, padding_idx=text.PAD_ID)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def encode(self, inputs: Tensor):
        """(memory, mask, state): no memory, the image as the initial state [L, B, H]."""
        vector = self.image_encoder(inputs)  # [B, state_tensors * L * H]; no squashing: tanh here left LSTMs stuck
        return None, None, self.rnn.state_from_vector(vector)

    def decoder(self, tokens: Tensor, state, memory=None, mask=None, lengths: Tensor | None = None):
        """tokens [B, T] → logits [B, T, V], new state."""
        out, state = self.rnn(self.drop(self.embed(tokens)), lengths, state)
        return self.out(self.drop(out)), state

    def forward(self, inputs: Tensor, tgt_in: Tensor, tgt_len: Tensor) -> Tensor:
        """Teacher-forced logits [B, T, V]."""
        _, _, state = self.encode(inputs)
        logits, _ = self.decoder(tgt_in, state, lengths=tgt_len)
        return logits


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The captioner for `cell` at `hidden_size`: a CNN for strips, a linear projection for features."""
    m, shape = section["model"], meta["input_shape"]

    def image_encoder(out: int) -> nn.Module:
        return StripEncoder(shape[0], shape[1], m["channels"], out) if len(shape) == 2 else nn.Linear(shape[0], out)

    return Captioner(image_encoder, cell, meta["vocab_size"], m["embed_dim"], hidden_size, m["num_layers"],
                     m["dropout"])


# -------------------------------------------------------------------- task

class CaptioningTask:
    """Batches of (image, caption) pairs, teacher-forced loss, BLEU against all references."""

    def __init__(self, section: dict, data_dir: Path, device: torch.device) -> None:
        self.splits, self.itos, self.meta = load_prepared(data_dir)
        self.section = section
        self.cfg, self.eval_cfg = section["train"], section["evaluate"]
        self.max_output_len = section["model"]["max_output_len"]  # validation decodes too: a model setting
        self.device = device
        self.bos, self.eos = self.itos.index(text.BOS), self.itos.index(text.EOS)

    def train_batches(self, generator: torch.Generator) -> list[Tensor]:
        """Caption indices bucketed by caption length (the decoder's sequence)."""
        return bucket_batches(self.splits["train"]["caption_len"], self.cfg["batch_size"], generator)

    def _loss(self, model: nn.Module, split: dict, index: Tensor, reduction: str = "mean"):
        cap_len = split["caption_len"][index]
        caps = split["caption"][index, : int(cap_len.max())].to(self.device)
        inputs = split["inputs"][split["owner"][index]].to(self.device)
        logits = model(inputs, caps[:, :-1], cap_len - 1)
        target = caps[:, 1:]
        mask = target != text.PAD_ID
        return nn.functional.cross_entropy(logits[mask], target[mask], reduction=reduction), int(mask.sum())

    def step(self, model: nn.Module, index: Tensor) -> Step:
        """Mean cross-entropy over the real caption tokens of a batch."""
        loss, tokens = self._loss(model, self.splits["train"], index)
        return Step(loss, len(index), tokens)

    def caption(self, model: nn.Module, split_name: str, beam_size: int, limit: int | None = None) -> list[list[str]]:
        """A caption for each of the first `limit` images of a split (all by default)."""
        inputs, max_len = self.splits[split_name]["inputs"][:limit], self.max_output_len
        outputs = []
        for start in range(0, len(inputs), self.cfg["eval_batch_size"]):
            batch = inputs[start : start + self.cfg["eval_batch_size"]].to(self.device)
            if beam_size == 1:
                outputs += text.greedy_decode(model, (batch,), self.bos, self.eos, max_len)
            else:
                outputs += text.beam_search_batch(model, (batch,), self.bos, self.eos, max_len, beam_size)
        return [text.decode(o, self.itos) for o in outputs]

    def evaluate(self, model: nn.Module, split_name: str) -> dict[str, float]:
        """Exact match, BLEU-4 and loss; on test also BLEU-1..3 and sacreBLEU, against every raw reference."""
        split = self.splits[split_name]
        loss_sum, tokens = 0.0, 0
        for index in torch.arange(len(split["owner"])).split(self.cfg["eval_batch_size"]):
            loss, n = self._loss(model, split, index, reduction="sum")
            loss_sum, tokens = loss_sum + float(loss), tokens + n
        beam = 1 if split_name == "valid" else self.eval_cfg["beam_size"]
        hyps = self.caption(model, split_name, beam)
        metrics = {"exact_match": exact_match(hyps, split["references"]), "loss": loss_sum / max(tokens, 1),
                   "bleu4": corpus_bleu(hyps, split["references"])}
        if split_name != "valid":
            metrics.update({f"bleu{n}": corpus_bleu(hyps, split["references"], max_n=n) for n in range(1, 4)})
            metrics["sacrebleu"], _ = sacre_bleu([text.detokenize(h) for h in hyps], split["reference_text"],
                                                 lowercases(self.meta["source"]))
        return metrics

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """Captions of the first test images, and (for image strips) a contact sheet PNG."""
        split, n = self.splits["test"], min(self.eval_cfg["samples"], len(self.splits["test"]["references"]))
        hyps = self.caption(model, "test", self.eval_cfg["beam_size"], limit=n)
        correct = [hyps[i] in split["references"][i] for i in range(n)]
        lines = ["| # | reference | caption | |", "|---|---|---|---|"]
        for i in range(n):
            mark = "✓" if correct[i] else "✗"
            lines.append(f"| {i + 1} | {' '.join(split['references'][i][0])} | {' '.join(hyps[i])} | {mark} |")
        if split["inputs"].dim() == 3:
            contact_sheet(split["inputs"][:n], hyps, correct, out_dir / "contact_sheet.png")
            lines.append("\n![contact sheet](contact_sheet.png)")
        return "\n".join(lines) + "\n"


def contact_sheet(strips: Tensor, captions: list[list[str]], correct: list[bool], path: Path) -> None:
    """A PNG grid of framed strips with the model's caption under each (wrong ones in red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = (len(strips) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 1.4 * rows), squeeze=False)
    for ax in axes.flat[len(strips):]:
        ax.axis("off")
    for ax, strip, caption, ok in zip(axes.flat, strips, captions, correct):
        ax.imshow(strip.numpy(), cmap="gray_r", vmin=0, vmax=16)
        ax.set_xticks([]), ax.set_yticks([])  # keep the frame: it shows where one strip ends
        for spine in ax.spines.values():
            spine.set_color("0.6")
        text = " ".join(caption) or "(empty)"
        ax.set_title(text if ok else f"✗ {text}", fontsize=8, y=-0.4, color="black" if ok else "tab:red")
    fig.tight_layout(w_pad=2.0)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def make_task(section: dict, data_dir: Path, device: torch.device) -> CaptioningTask:
    """The engine's view of the prepared captioning data."""
    return CaptioningTask(section, data_dir, device)


def read_image(path: str):
    """A PIL image from a file; an unreadable file is a `UserError` naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.copy()
    except (OSError, UnidentifiedImageError) as err:
        raise UserError(f"{path} is not a readable image ({type(err).__name__}); give a PNG or JPEG file") from err


def strip_from_image(image, shape: list[int]) -> Tensor:
    """A drawing (dark ink on a light background) as a digit strip [H, W] of UCI levels 0..16."""
    height, width = shape
    gray = torch.tensor(list(image.convert("L").resize((width, height)).tobytes()), dtype=torch.float)
    return (16 - (gray * 16 / 255).round()).to(torch.uint8).view(height, width)


@torch.no_grad()
def predict(task: CaptioningTask, model: nn.Module, inputs: list[str]) -> list[str]:
    """A caption for each image file, encoded as `prepare` does (strip pixels, or frozen backbone features)."""
    images, shape = [read_image(path) for path in inputs], task.meta["input_shape"]
    if len(shape) == 2:
        batch = torch.stack([strip_from_image(image, shape) for image in images])
    else:
        backbone = pretrained_backbone(task.section["data"]["backbone"])
        batch = image_features(torch.stack([normalised(image) for image in images]), backbone)
    captions = text.beam_search_batch(model, (batch.to(task.device),), task.bos, task.eos, task.max_output_len,
                                      task.eval_cfg["beam_size"])
    return [" ".join(text.decode(ids, task.itos)) or "(empty caption)" for ids in captions]
