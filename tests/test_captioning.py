"""Captioning: strip composition, hub rows with five references, frozen features, multi-reference BLEU."""

from pathlib import Path

import pytest
import torch
import torchvision
from datasets import Dataset
from PIL import Image

from recipes import captioning
from recipes.kit.metrics import corpus_bleu, exact_match

SOURCE = {"max_digits": 3, "strips": {"train": 200, "validation": 40, "test": 40},
          "pool_fractions": {"validation": 0.15, "test": 0.15}}


def test_pools_are_disjoint_and_cover_every_image():
    pools = captioning.split_pools(1797, SOURCE["pool_fractions"], seed=0)
    sets = [set(p.tolist()) for p in pools.values()]
    assert sum(len(s) for s in sets) == 1797 and len(set.union(*sets)) == 1797


def test_strips_use_only_their_pool_and_captions_match_labels():
    images = torch.arange(10).repeat_interleave(64).view(10, 8, 8).to(torch.uint8)  # image i is all i
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    pool = torch.tensor([2, 5, 7])
    strips, captions = captioning.compose_strips(images, labels, pool, 50, 3, torch.Generator().manual_seed(0))
    assert strips.shape == (50, 8, 24)
    for strip, caption in zip(strips, captions):
        assert 1 <= len(caption) <= 3
        shown = [int(strip[0, 8 * k]) for k in range(len(caption))]
        assert set(shown) <= {2, 5, 7}
        assert caption == [captioning.DIGIT_WORDS[int(labels[i])] for i in shown]
        assert int(strip[:, 8 * len(caption):].sum()) == 0  # blank after the last digit


def test_generated_splits_share_no_source_image():
    strips = captioning.generate_strips(SOURCE, seed=0)
    pools = [set(strips[s]["pool"].tolist()) for s in captioning.SPLITS]
    assert not (pools[0] & pools[1] or pools[0] & pools[2] or pools[1] & pools[2])


def test_flickr_rows_keep_all_five_references():
    image = Image.new("RGB", (4, 4))
    split = Dataset.from_dict({"image": [image], **{f"caption_{i}": [f"a dog {i}"] for i in range(5)}})
    rows = captioning.rows_from_hub(split)
    assert rows[0]["captions"] == [f"a dog {i}" for i in range(5)]


def test_frozen_feature_path_with_a_random_resnet(params):
    trunk = torch.nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2])
    features = captioning.image_features(torch.randn(3, 3, 64, 64), trunk)
    assert features.shape == (3, 4, 512) and features.dtype == torch.float16 and not features.requires_grad
    meta = {"input_shape": [4, 512], "vocab_size": 9, "encoder_input": "features"}
    model = captioning.build_model(params["captioning"], meta, "gru", 16)
    logits = model(features, torch.randint(4, 9, (3, 5)), torch.tensor([5, 4, 2]))
    logits.sum().backward()
    assert logits.shape == (3, 5, 9) and model.image_encoder.proj.weight.grad is not None


def test_multi_reference_bleu_and_exact_match_by_hand():
    refs = [[["a", "dog", "runs"], ["the", "dog", "runs", "fast"]]]
    assert corpus_bleu([["the", "dog", "runs", "fast"]], refs) == pytest.approx(1.0)
    # unigrams 3/3 and bigrams 2/2 match some reference; closest reference length 3 = no brevity penalty
    assert corpus_bleu([["a", "dog", "runs"]], refs, max_n=2) == pytest.approx(1.0)
    assert exact_match([["a", "dog", "runs"], ["x"]], refs + [[["y"]]]) == 0.5


# ---- this recipe's data for the shared tests (tests/test_pipeline.py, test_sizing.py, test_contract.py)

SIZING_META = {"vocab_size": 14, "input_shape": [8, 32], "encoder_input": "strip"}


def tiny(section: dict, fixtures: Path) -> None:
    """Shrink this recipe's params to seconds of work (strips from scikit-learn's bundled digits)."""
    section["source"].update(strips={"train": 64, "validation": 16, "test": 16}, max_digits=2)
    section["model"].update(embed_dim=8, hidden_size=8, channels=4)
    section["train"].update(epochs=2)


def predict_inputs(folder: Path) -> list[str]:
    """Two drawn strips as PNG files (dark ink on white), for the predict test."""
    paths = []
    for i, size in enumerate([(16, 8), (32, 8)]):
        image = Image.new("L", size, 255)
        image.paste(0, (2, 2, 5, 6))
        paths.append(str(folder / f"strip{i}.png"))
        image.save(paths[-1])
    return paths
