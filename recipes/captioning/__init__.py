"""Captioning: one-to-many. One image in, a word sequence out.

    python -m stages.train captioning lstm 0   (run by `dvc repro`)

Raw format (data/raw/captioning/), per split (train, validation, test):
- embedded digit strips: <split>.pt with "images" uint8 [N, 8, 8*max_digits]
  and "captions" (a list of reference word lists per image);
- Flickr8k from the hub, or the user's own images (`dataset: local`, recipes/captioning/local.py):
  <split>.jsonl rows {"image": file under images/, "captions": [str]}.
"""

from __future__ import annotations

from recipes.captioning.data import (
    DIGIT_WORDS,
    SPLITS,
    compose_strips,
    download,
    encode_images,
    generate_strips,
    image_features,
    prepare,
    pretrained_backbone,
    read_strips,
    rows_from_hub,
    split_pools,
)
from recipes.captioning.model import build_model
from recipes.captioning.task import make_task, predict
from recipes.kit.contract import HIGHER, LOWER
from recipes.kit.engine import TRAIN_SCHEMA
from recipes.kit.params import MODEL_SCHEMA, Field

TOPOLOGY = "one-to-many"
METRIC = "exact_match"  # picks the best epoch on digit strips; real captions use SENTENCE_METRIC
SENTENCE_METRIC = "bleu4"  # a caption equal to one of five human ones is rare: exact match hardly moves
HEADLINE = "exact_match"
DIRECTIONS = {"exact_match": HIGHER, "bleu1": HIGHER, "bleu2": HIGHER, "bleu3": HIGHER, "bleu4": HIGHER,
              "sacrebleu": HIGHER, "loss": LOWER}


SCHEMA = {
    "source": {
        "dataset": Field(str, choices=("embedded", "flickr8k", "local")),
        "local_path": Field(str, nullable=True),
        "max_digits": Field(int, min=1, max=10),
        "strips": {"train": Field(int, min=1), "validation": Field(int, min=1), "test": Field(int, min=1)},
        "pool_fractions": {"validation": Field(float, min=0.01, max=0.4), "test": Field(float, min=0.01, max=0.4)},
    },
    "data": {
        "min_freq": Field(int, min=1),
        "max_len": Field(int, min=1),
        "backbone": Field(str, choices=("resnet18", "none")),
        "image_size": Field(int, min=8, max=512),
    },
    # The decoder is unidirectional: it generates left to right.
    "model": {**{k: v for k, v in MODEL_SCHEMA.items() if k != "bidirectional"}, "channels": Field(int, min=1),
              "max_output_len": Field(int, min=1), "attention": Field(str, choices=("none", "additive"))},
    "train": {**TRAIN_SCHEMA, "select_by": Field(str, choices=("auto", "exact_match", "bleu4", "loss"))},
    "evaluate": {"samples": Field(int, min=0), "beam_size": Field(int, min=1)},
}


__all__ = ["DIGIT_WORDS", "DIRECTIONS", "HEADLINE", "METRIC", "SCHEMA", "SENTENCE_METRIC", "SPLITS", "TOPOLOGY",
           "build_model", "compose_strips", "download", "encode_images", "generate_strips", "image_features",
           "make_task", "predict", "prepare", "pretrained_backbone", "read_strips", "rows_from_hub", "split_pools"]
