"""Translation: encoder-decoder, the whole source is read before the first target word.

    python -m stages.train translation gru 0   (run by `dvc repro`)

Raw format (data/raw/translation/): train.jsonl, validation.jsonl, test.jsonl,
rows {"source": str, "target": str}; SOURCE.json names the tokenizer
(`cased` for Tatoeba and local JSON lines: words and punctuation, case kept;
`whitespace` for the generated numbers; `basic_english` for Multi30k).
A local folder holds either those three files or Multi30k's own layout:
train.de(.gz) + train.en, val.*, test_2016_flickr.*, one sentence per line.
"""

from __future__ import annotations

import sys

from recipes.kit.contract import HIGHER, LOWER
from recipes.kit.engine import TRAIN_SCHEMA
from recipes.kit.errors import UserError
from recipes.kit.params import MODEL_SCHEMA, Field
from recipes.translation.data import (
    NUMBERS,
    ROW,
    download,
    english_words,
    generate_numbers,
    german_units,
    prepare,
    rows_from_hub,
    segment_german,
)
from recipes.translation.model import build_model
from recipes.translation.task import make_task, predict
from recipes.translation.tatoeba import check_direction

TOPOLOGY = "encoder-decoder, output after the input ends"
METRIC = "exact_match"  # picks the best epoch on the generated numbers; real sentences use SENTENCE_METRIC
SENTENCE_METRIC = "bleu"  # exact match of a whole sentence hardly ever moves off 0
GENERATED = NUMBERS  # the datasets METRIC is for; any other is real sentences
HEADLINE = "exact_match"  # on the numbers; prepare's meta.json names sacrebleu for real sentences
DIRECTIONS = {"exact_match": HIGHER, "bleu": HIGHER, "sacrebleu": HIGHER, "perplexity": LOWER, "loss": LOWER,
              "unk_share": LOWER}
SCHEMA = {
    "source": {
        "dataset": Field(str, choices=("tatoeba", "numbers", "multi30k", "local", "embedded")),
        "local_path": Field(str, nullable=True),
        "direction": Field(str),  # checked by `check`
        "train_size": Field(int, min=1),
        "valid_size": Field(int, min=1),
        "test_size": Field(int, min=1),
        "max_digits": Field(int, min=1, max=6),
        "target_units": Field(str, choices=("morphemes", "characters")),
    },
    "data": {"min_freq": Field(int, min=1), "max_len": Field(int, min=1),
             "max_src_vocab": Field(int, min=0), "max_tgt_vocab": Field(int, min=0)},
    "model": {**MODEL_SCHEMA, "attention": Field(str, choices=("none", "additive")), "tied_output": Field(bool),
              "max_output_len": Field(int, min=1)},
    "train": {**TRAIN_SCHEMA, "teacher_forcing": Field(float, min=0.0, max=1.0),
              "select_by": Field(str, choices=("auto", "exact_match", "bleu", "loss"))},
    "evaluate": {"samples": Field(int, min=0), "beam_size": Field(int, min=1)},
}


def check(section: dict) -> None:
    """The direction against the chosen dataset's languages; `embedded`'s deprecation."""
    source = section["source"]
    if source["dataset"] == "multi30k" and source["direction"] not in ("de-en", "en-de"):
        raise UserError(f"params.yaml: translation.source.direction {source['direction']!r}: Multi30k has "
                        "German and English only, so de-en or en-de")
    if source["dataset"] == "tatoeba":
        check_direction(source["direction"])
    elif len(source["direction"].split("-")) != 2:
        raise UserError(f"params.yaml: translation.source.direction {source['direction']!r} must be "
                        "SOURCE-TARGET language codes, e.g. de-en")
    if source["dataset"] == "embedded":
        print("warning: translation.source.dataset `embedded` is now called `numbers` (the same generated "
              "number names); `embedded` is accepted until the next release: set `numbers` in params.yaml",
              file=sys.stderr)


__all__ = ["DIRECTIONS", "GENERATED", "HEADLINE", "METRIC", "ROW", "SCHEMA", "SENTENCE_METRIC", "TOPOLOGY",
           "build_model", "check", "download", "english_words", "generate_numbers", "german_units", "make_task",
           "predict", "prepare", "rows_from_hub", "segment_german"]
