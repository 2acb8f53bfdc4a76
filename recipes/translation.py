"""Translation: encoder-decoder, the whole source is read before the first target word.

    python -m stages.train translation gru 0   (run by `dvc repro`)

Raw format (data/raw/translation/): train.jsonl, validation.jsonl, test.jsonl,
rows {"source": str, "target": str}; SOURCE.json names the tokenizer
(`whitespace` for the generated numbers, `basic_english` for Multi30k).
A local folder holds either those three files or Multi30k's own layout:
train.de(.gz) + train.en, val.*, test_2016_flickr.*, one sentence per line.
"""

from __future__ import annotations

import gzip
import random
from importlib.metadata import version
from pathlib import Path

import torch
from num2words import num2words
from torch import Tensor, nn

from recipes import rows, sources, text
from recipes.batching import bucket_batches, real_positions, sorted_batches
from recipes.cells import MODEL_SCHEMA, Recurrent, map_state
from recipes.contract import HIGHER, LOWER, Step
from recipes.engine import TRAIN_SCHEMA
from recipes.errors import UserError
from recipes.metrics import corpus_bleu, exact_match, sacre_bleu
from recipes.params import Field
from recipes.splits import load_prepared, save_prepared

TOPOLOGY = "encoder-decoder, output after the input ends"
METRIC = "exact_match"  # picks the best epoch on the generated numbers; real sentences use SENTENCE_METRIC
SENTENCE_METRIC = "bleu"  # exact match of a whole sentence hardly ever moves off 0
HEADLINE = "exact_match"
DIRECTIONS = {"exact_match": HIGHER, "bleu": HIGHER, "sacrebleu": HIGHER, "perplexity": LOWER, "loss": LOWER}
HUB_REPO = "bentrevett/multi30k"
SPLIT_FILES = {"train": "train.jsonl", "valid": "validation.jsonl", "test": "test.jsonl"}
PARALLEL_STEMS = {"train.jsonl": "train", "validation.jsonl": "val", "test.jsonl": "test_2016_flickr"}  # Multi30k
ROW = rows.RowFormat({"source": rows.TEXT, "target": rows.TEXT})
# German number morphemes; a longest match over them splits every num2words output below a million.
MORPHEMES = sorted(["null", "eins", "ein", "eine", "zwei", "drei", "vier", "fünf", "sechs", "sech", "sieben", "sieb",
                    "acht", "neun", "zehn", "elf", "zwölf", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig",
                    "siebzig", "achtzig", "neunzig", "hundert", "tausend", "und"], key=len, reverse=True)

SCHEMA = {
    "source": {
        "dataset": Field(str, choices=("embedded", "multi30k", "local")),
        "local_path": Field(str, nullable=True),
        "direction": Field(str, choices=("de-en", "en-de")),
        "train_size": Field(int, min=1),
        "valid_size": Field(int, min=1),
        "test_size": Field(int, min=1),
        "max_digits": Field(int, min=1, max=6),
        "target_units": Field(str, choices=("morphemes", "characters")),
    },
    "data": {"min_freq": Field(int, min=1), "max_len": Field(int, min=1)},
    "model": {**MODEL_SCHEMA, "attention": Field(str, choices=("none", "additive")),
              "max_output_len": Field(int, min=1)},
    "train": {**TRAIN_SCHEMA, "teacher_forcing": Field(float, min=0.0, max=1.0),
              "select_by": Field(str, choices=("auto", "exact_match", "bleu", "loss"))},
    "evaluate": {"samples": Field(int, min=0), "beam_size": Field(int, min=1)},
}


# ---------------------------------------------------------------- generate

def segment_german(word: str) -> list[str]:
    """Split a German number word into morphemes (longest match); joins back exactly."""
    parts, i = [], 0
    while i < len(word):
        match = next((m for m in MORPHEMES if word.startswith(m, i)), None)
        if match is None:
            raise ValueError(f"cannot segment {word!r} at {word[i:]!r}")
        parts.append(match)
        i += len(match)
    return parts


def english_words(n: int) -> str:
    """`three hundred and forty-two` → `three hundred and forty two` (num2words, hyphens and commas split off)."""
    return " ".join(num2words(n, lang="en").replace("-", " ").replace(",", " ").split())


def german_units(n: int, units: str) -> str:
    """The German number name as space-separated morphemes or characters."""
    word = num2words(n, lang="de")
    return " ".join(segment_german(word) if units == "morphemes" else list(word))


def draw_numbers(count: int, max_digits: int, seed: int) -> list[int]:
    """`count` distinct numbers, their digit count drawn uniformly from 1..max_digits."""
    rng = random.Random(seed)
    capacity = 10 ** max_digits
    if count > capacity * 0.9:
        raise UserError(f"translation: {count} numbers asked for but only {capacity} exist below 10^{max_digits}")
    chosen: set[int] = set()
    while len(chosen) < count:
        digits = rng.randint(1, max_digits)
        chosen.add(rng.randrange(0 if digits == 1 else 10 ** (digits - 1), 10**digits))
    ordered = sorted(chosen)
    rng.shuffle(ordered)
    return ordered


def generate_numbers(source: dict, seed: int) -> dict[str, list[dict]]:
    """Disjoint train/validation/test rows of English → German number names."""
    sizes = [source["train_size"], source["valid_size"], source["test_size"]]
    numbers = draw_numbers(sum(sizes), source["max_digits"], seed)
    splits, start = {}, 0
    for name, size in zip(("train", "validation", "test"), sizes):
        chunk = numbers[start : start + size]
        splits[name] = [{"number": n, "source": english_words(n), "target": german_units(n, source["target_units"])}
                        for n in chunk]
        start += size
    return splits


# ---------------------------------------------------------------- download

def rows_from_hub(split, direction: str, where: str) -> list[dict]:
    """Multi30k rows (`en`, `de`) to checked source/target rows in the given direction."""
    src, tgt = direction.split("-")
    return rows.check_listed([{"source": row[src], "target": row[tgt]} for row in split], ROW, where)


def _parallel_file(folder: Path, stem: str, lang: str) -> Path:
    for name in (f"{stem}.{lang}.gz", f"{stem}.{lang}"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"{folder} has neither train.jsonl nor {stem}.{lang}(.gz): a local translation folder holds "
                    "train/validation/test.jsonl, or Multi30k's train/val/test_2016_flickr.<lang>(.gz) files")


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return handle.read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise UserError(f"{path} cannot be read ({err}): replace it with an intact copy") from err


def read_parallel(folder: Path, stem: str, direction: str) -> tuple[list[dict], dict[str, str]]:
    """Rows of one split in Multi30k's layout (`<stem>.<lang>(.gz)`, line i translates line i) and the
    sha256 of each file read."""
    src_lang, tgt_lang = direction.split("-")
    src_path, tgt_path = _parallel_file(folder, stem, src_lang), _parallel_file(folder, stem, tgt_lang)
    src, tgt = _lines(src_path), _lines(tgt_path)
    if len(src) != len(tgt):
        raise UserError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: line i of one must "
                        "translate line i of the other")
    pairs = rows.check_listed([{"source": s, "target": t} for s, t in zip(src, tgt)], ROW, str(src_path))
    return pairs, {p.name: sources.sha256_of(p) for p in (src_path, tgt_path)}


def copy_local(source: dict, raw_dir: Path) -> dict:
    """A local folder's rows into the raw format; SOURCE.json facts (the layout decides the tokenizer)."""
    folder = sources.local_folder(source["local_path"], "translation")
    if (folder / "train.jsonl").is_file():
        hashes = sources.copy_local(source["local_path"], dict.fromkeys(SPLIT_FILES.values(), ROW), raw_dir,
                                    "translation")
        return {"dataset": "local", "source": "local", "path": source["local_path"], "sha256": hashes,
                "tokenizer": "whitespace"}
    hashes, counts = {}, {}
    for ours, stem in PARALLEL_STEMS.items():
        pairs, file_hashes = read_parallel(folder, stem, source["direction"])
        rows.write_jsonl(raw_dir / ours, pairs)
        hashes.update(file_hashes)
        counts[ours.removesuffix(".jsonl")] = len(pairs)
    return {"dataset": "local (Multi30k layout)", "source": "local", "path": source["local_path"],
            "direction": source["direction"], "sha256": hashes, "rows": counts, "tokenizer": "basic_english"}


def download(section: dict, raw_dir: Path, seed: int) -> None:
    """Generate the number pairs, or fetch Multi30k, or copy local files."""
    source = section["source"]
    name, files = source["dataset"], list(SPLIT_FILES.values())
    if name == "embedded":
        splits = generate_numbers(source, seed)
        for split, pairs in splits.items():
            rows.write_jsonl(raw_dir / f"{split}.jsonl", rows.check_listed(pairs, ROW, f"generated {split}"))
        info = {"dataset": "number names, English → German", "source": "generated",
                "generator": "num2words", "version": version("num2words"), "seed": seed,
                "target_units": source["target_units"], "max_digits": source["max_digits"],
                "rows": {k: len(v) for k, v in splits.items()}, "tokenizer": "whitespace"}
    elif name == "local":
        info = copy_local(source, raw_dir)
    else:
        dsd, resolved = sources.load_hub(HUB_REPO, None, None, "translation")
        for ours, theirs in zip(files, ("train", "validation", "test")):
            rows.write_jsonl(raw_dir / ours, rows_from_hub(dsd[theirs], source["direction"], f"{HUB_REPO} {theirs}"))
        info = {"dataset": HUB_REPO, "source": "hub", "revision": resolved, "direction": source["direction"],
                "rows": {k: len(v) for k, v in dsd.items()}, "tokenizer": "basic_english"}
    sources.write_source(raw_dir, info)


# ----------------------------------------------------------------- prepare

def tokenizer_of(source: dict):
    """The tokenizer SOURCE.json names: `whitespace`, or torchtext's `basic_english` (lower-cases)."""
    return str.split if source["tokenizer"] == "whitespace" else text.tokenizer("basic_english")


def prepare(section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
    """Tokenise, build source and target vocabularies, store padded tensors and the raw references
    (BLEU is scored against those: a reference word the vocabulary lacks must not turn into `<unk>`)."""
    data = section["data"]
    source = sources.read_source(raw_dir)
    tokenize = tokenizer_of(source)
    splits, raw_targets = {}, {}
    for ours, file in SPLIT_FILES.items():
        pairs = rows.read_rows(raw_dir / file, ROW, fix="run `dvc repro download@translation`")
        splits[ours] = [([*tokenize(r["source"])][: data["max_len"]], [*tokenize(r["target"])][: data["max_len"]])
                        for r in pairs]
        raw_targets[ours] = [r["target"] for r in pairs]
    specials = (text.PAD, text.UNK, text.BOS, text.EOS)
    src_itos = text.build_vocab([s for s, _ in splits["train"]], data["min_freq"], specials=specials)
    tgt_itos = text.build_vocab([t for _, t in splits["train"]], data["min_freq"], specials=specials)
    tensors = {}
    for name, pairs in splits.items():
        src, src_len = text.encode([s for s, _ in pairs], src_itos)
        tgt, tgt_len = text.encode([t for _, t in pairs], tgt_itos, add_bos_eos=True)
        tensors[name] = {"src": src, "src_len": src_len, "tgt": tgt, "tgt_len": tgt_len,
                         "reference_text": raw_targets[name],
                         "references": [[*tokenize(t)] for t in raw_targets[name]]}
    copy_bleu, signature = sacre_bleu([text.detokenize(s) for s, _ in splits["test"]],
                                      [[t] for t in raw_targets["test"]], lowercase=lowercases(source))
    meta = {"src_vocab_size": len(src_itos), "tgt_vocab_size": len(tgt_itos), "unit": "tokens", "source": source,
            "sizes": {k: len(v) for k, v in splits.items()},
            "max_target_tokens": max(len(t) for p in splits.values() for _, t in p),
            "sacrebleu_signature": signature,
            "baseline": {"name": "copy the source", "bleu": corpus_bleu(
                [s for s, _ in splits["test"]], [[r] for r in tensors["test"]["references"]]),
                "sacrebleu": copy_bleu}}
    save_prepared(out_dir, tensors, {"src": src_itos, "tgt": tgt_itos}, meta)


def lowercases(source: dict) -> bool:
    """Whether the tokenizer lower-cases, so that sacreBLEU must compare lower-cased text."""
    return source["tokenizer"] == "basic_english"


# ------------------------------------------------------------------- model

class AdditiveAttention(nn.Module):
    """score(q, k) = v · tanh(W q + U k), masked softmax over the source."""

    def __init__(self, query_size: int, key_size: int, attn_size: int) -> None:
        super().__init__()
        self.query, self.key = nn.Linear(query_size, attn_size), nn.Linear(key_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        """query [B, T, Q], keys [B, S, K], mask [B, S] → context [B, T, K]."""
        scores = self.v(torch.tanh(self.query(query)[:, :, None] + self.key(keys)[:, None])).squeeze(-1)  # [B, T, S]
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        return weights @ keys


class Encoder(nn.Module):
    """Embedding → cell over the source; a bidirectional state is bridged to the decoder's size."""

    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, layers: int, bidirectional: bool,
                 dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=text.PAD_ID)
        self.rnn = Recurrent(cell, embed, hidden, layers, bidirectional, dropout)
        self.bridge = nn.Linear(2 * hidden, hidden) if bidirectional else None
        self.drop = nn.Dropout(dropout)

    def _bridge(self, h: Tensor) -> Tensor:
        layers, batch = h.size(0) // 2, h.size(1)
        pairs = h.view(layers, 2, batch, -1).permute(0, 2, 1, 3).reshape(layers, batch, -1)  # [L, B, 2H]
        return torch.tanh(self.bridge(pairs))  # [L, B, H]

    def forward(self, src: Tensor, src_len: Tensor):
        """src [B, S] → memory [B, S, H*D], state for the decoder ([L, B, H] per tensor)."""
        memory, state = self.rnn(self.drop(self.embed(src)), src_len)
        if self.bridge is not None:
            state = map_state(state, self._bridge)
        return memory, state


class Decoder(nn.Module):
    """Embedding → cell → (additive attention over the source) → vocabulary logits."""

    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, layers: int, memory_size: int,
                 attention: bool, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=text.PAD_ID)
        self.rnn = Recurrent(cell, embed, hidden, layers, False, dropout)
        self.attention = AdditiveAttention(hidden, memory_size, hidden) if attention else None
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden + (memory_size if attention else 0), vocab)

    def forward(self, inputs: Tensor, state, memory: Tensor, mask: Tensor, lengths: Tensor | None = None):
        """inputs [B, T] (T=1 for one step) → logits [B, T, V], new state.

        The cell's input is only the previous token, so with full teacher
        forcing all T steps run in one call; attention reads the outputs.
        """
        out, state = self.rnn(self.drop(self.embed(inputs)), lengths, state)  # [B, T, H]
        if self.attention is not None:
            out = torch.cat([out, self.attention(out, memory, mask)], dim=-1)  # [B, T, H + K]
        return self.out(self.drop(out)), state


class Seq2Seq(nn.Module):
    """Encoder → decoder started from the encoder's final state."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def encode(self, src: Tensor, src_len: Tensor):
        """Memory, its mask [B, S] and the decoder's initial state."""
        memory, state = self.encoder(src, src_len)
        mask = real_positions(src_len, src.size(1), src.device)  # [B, S]
        return memory, mask, state

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, tgt_len: Tensor) -> Tensor:
        """Teacher-forced logits [B, T, V] for decoder inputs tgt_in [B, T]."""
        memory, mask, state = self.encode(src, src_len)
        logits, _ = self.decoder(tgt_in, state, memory, mask, tgt_len)
        return logits

    def forward_mixed(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, ratio: float) -> Tensor:
        """Step by step: each step feeds the gold token with probability `ratio`, else the model's own guess."""
        memory, mask, state = self.encode(src, src_len)
        token, steps = tgt_in[:, :1], []
        for t in range(tgt_in.size(1)):
            logits, state = self.decoder(token, state, memory, mask)  # [B, 1, V]
            steps.append(logits)
            if t + 1 < tgt_in.size(1):
                gold = tgt_in[:, t + 1 : t + 2]
                use_gold = torch.rand(gold.shape, device=gold.device) < ratio
                token = torch.where(use_gold, gold, logits.argmax(-1))
        return torch.cat(steps, dim=1)


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The encoder-decoder for `cell` at `hidden_size`."""
    m = section["model"]
    encoder = Encoder(cell, meta["src_vocab_size"], m["embed_dim"], hidden_size, m["num_layers"],
                      m["bidirectional"], m["dropout"])
    memory_size = hidden_size * (2 if m["bidirectional"] else 1)
    decoder = Decoder(cell, meta["tgt_vocab_size"], m["embed_dim"], hidden_size, m["num_layers"], memory_size,
                      m["attention"] == "additive", m["dropout"])
    return Seq2Seq(encoder, decoder)


# -------------------------------------------------------------------- task

class TranslationTask:
    """Batches, teacher-forced loss and decoding metrics, for the engine."""

    def __init__(self, section: dict, data_dir: Path, device: torch.device) -> None:
        self.splits, vocab, self.meta = load_prepared(data_dir)
        self.section = section
        self.src_itos, self.tgt_itos = vocab["src"], vocab["tgt"]
        self.cfg, self.eval_cfg = section["train"], section["evaluate"]
        self.max_output_len = section["model"]["max_output_len"]  # validation decodes too: a model setting
        self.device = device
        self.bos, self.eos = self.tgt_itos.index(text.BOS), self.tgt_itos.index(text.EOS)

    def train_batches(self, generator: torch.Generator) -> list[Tensor]:
        """Batches bucketed by source length, then target length."""
        split = self.splits["train"]
        key = split["src_len"] * 1000 + split["tgt_len"]
        return bucket_batches(key, self.cfg["batch_size"], generator)

    def _batch(self, split: dict, index: Tensor):
        src_len, tgt_len = split["src_len"][index], split["tgt_len"][index]
        src = split["src"][index, : int(src_len.max())].to(self.device)
        tgt = split["tgt"][index, : int(tgt_len.max())].to(self.device)
        return src, src_len, tgt, tgt_len

    def _loss(self, model: nn.Module, split: dict, index: Tensor, ratio: float = 1.0, reduction: str = "mean"):
        src, src_len, tgt, tgt_len = self._batch(split, index)
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # <bos> w1 … → w1 … <eos>
        if ratio >= 1.0:
            logits = model(src, src_len, tgt_in, tgt_len - 1)
        else:
            logits = model.forward_mixed(src, src_len, tgt_in, ratio)
        mask = tgt_out != text.PAD_ID
        loss = nn.functional.cross_entropy(logits[mask], tgt_out[mask], reduction=reduction)
        return loss, int(mask.sum())

    def step(self, model: nn.Module, index: Tensor) -> Step:
        """Mean cross-entropy over the real target tokens of a batch."""
        loss, tokens = self._loss(model, self.splits["train"], index, self.cfg["teacher_forcing"])
        return Step(loss, len(index), tokens)

    def translate(self, model: nn.Module, split_name: str, beam_size: int, limit: int | None = None,
                  batched: bool = True) -> list[list[str]]:
        """Output tokens for the first `limit` examples (all by default); `batched=False` runs beam
        search one sentence at a time (the benchmark's yardstick)."""
        split, max_len = self.splits[split_name], self.max_output_len
        n = len(split["src_len"]) if limit is None else min(limit, len(split["src_len"]))
        outputs: dict[int, list[int]] = {}
        for index in sorted_batches(split["src_len"][:n], self.cfg["eval_batch_size"]):
            src, src_len, _, _ = self._batch(split, index)
            if beam_size == 1:
                decoded = text.greedy_decode(model, (src, src_len), self.bos, self.eos, max_len)
            elif batched:
                decoded = text.beam_search_batch(model, (src, src_len), self.bos, self.eos, max_len, beam_size)
            else:
                decoded = [text.beam_search(model, (src[j : j + 1], src_len[j : j + 1]), self.bos, self.eos, max_len,
                                            beam_size) for j in range(len(index))]
            outputs.update(zip(index.tolist(), decoded))
        return [text.decode(outputs[i], self.tgt_itos) for i in range(n)]

    def evaluate(self, model: nn.Module, split_name: str) -> dict[str, float]:
        """Validation: greedy exact match, token BLEU and loss. Test: beam search, also sacreBLEU and perplexity.
        BLEU of either kind is scored against the raw references."""
        split = self.splits[split_name]
        loss_sum, tokens = 0.0, 0
        for index in sorted_batches(split["src_len"], self.cfg["eval_batch_size"]):
            loss, n = self._loss(model, split, index, reduction="sum")
            loss_sum, tokens = loss_sum + float(loss), tokens + n
        loss = loss_sum / max(tokens, 1)
        beam = 1 if split_name == "valid" else self.eval_cfg["beam_size"]
        hyps, refs = self.translate(model, split_name, beam), [[r] for r in split["references"]]
        metrics = {"exact_match": exact_match(hyps, refs), "bleu": corpus_bleu(hyps, refs), "loss": loss}
        if split_name != "valid":
            texts, lowercase = [text.detokenize(h) for h in hyps], lowercases(self.meta["source"])
            metrics["sacrebleu"], _ = sacre_bleu(texts, [[r] for r in split["reference_text"]], lowercase)
            metrics["perplexity"] = float(torch.tensor(loss).exp())
        return metrics

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """The first test sources with reference and output."""
        split = self.splits["test"]
        hyps = self.translate(model, "test", self.eval_cfg["beam_size"], limit=self.eval_cfg["samples"])
        lines = ["| source | reference | output | |", "|---|---|---|---|"]
        for i, hyp in enumerate(hyps):
            src = text.decode(split["src"][i, : int(split["src_len"][i])].tolist(), self.src_itos)
            mark = "✓" if hyp == split["references"][i] else "✗"
            lines.append(f"| {' '.join(src)} | {split['reference_text'][i]} | {' '.join(hyp)} | {mark} |")
        return "\n".join(lines) + "\n"


def make_task(section: dict, data_dir: Path, device: torch.device) -> TranslationTask:
    """The engine's view of the prepared translation data."""
    return TranslationTask(section, data_dir, device)


@torch.no_grad()
def predict(task: TranslationTask, model: nn.Module, inputs: list[str]) -> list[str]:
    """The translation of each raw sentence: tokenised as `prepare` does, beam search with evaluate.beam_size."""
    tokenize = tokenizer_of(task.meta["source"])
    tokens = [[*tokenize(line)][: task.section["data"]["max_len"]] for line in inputs]
    if not all(tokens):
        raise UserError("an input has no tokens: give each sentence at least one word")
    src, src_len = text.encode(tokens, task.src_itos)
    decoded = text.beam_search_batch(model, (src.to(task.device), src_len), task.bos, task.eos,
                                     task.max_output_len, task.eval_cfg["beam_size"])
    return [text.detokenize(text.decode(ids, task.tgt_itos)) for ids in decoded]
