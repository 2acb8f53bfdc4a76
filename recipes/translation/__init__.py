"""Translation: encoder-decoder, the whole source is read before the first target word.

    python -m stages.train translation gru 0   (run by `dvc repro`)

Raw format (data/raw/translation/): train.jsonl, validation.jsonl, test.jsonl,
rows {"source": str, "target": str}; SOURCE.json names the tokenizer
(`whitespace` for the generated numbers, `basic_english` for Multi30k).
A local folder holds either those three files or Multi30k's own layout:
train.de(.gz) + train.en, val.*, test_2016_flickr.*, one sentence per line.
"""

from __future__ import annotations

from recipes.kit.contract import HIGHER, LOWER
from recipes.kit.engine import TRAIN_SCHEMA
from recipes.kit.params import MODEL_SCHEMA, Field
from recipes.translation.data import (
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

TOPOLOGY = "encoder-decoder, output after the input ends"
METRIC = "exact_match"  # picks the best epoch on the generated numbers; real sentences use SENTENCE_METRIC
SENTENCE_METRIC = "bleu"  # exact match of a whole sentence hardly ever moves off 0
HEADLINE = "exact_match"
DIRECTIONS = {"exact_match": HIGHER, "bleu": HIGHER, "sacrebleu": HIGHER, "perplexity": LOWER, "loss": LOWER}
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


__all__ = ["DIRECTIONS", "HEADLINE", "METRIC", "ROW", "SCHEMA", "SENTENCE_METRIC", "TOPOLOGY", "build_model",
           "download", "english_words", "generate_numbers", "german_units", "make_task", "predict", "prepare",
           "rows_from_hub", "segment_german"]
