"""Translation: number generator, hub rows, teacher forcing vs stepping, beam vs greedy, BLEU."""

from pathlib import Path

import pytest
import torch
from datasets import Dataset
from num2words import num2words

from recipes import text, translation
from recipes.metrics import corpus_bleu

SOURCE = {"train_size": 300, "valid_size": 50, "test_size": 80, "max_digits": 6, "target_units": "morphemes"}


def test_generator_splits_are_disjoint_and_seeded():
    a = translation.generate_numbers(SOURCE, seed=1)
    b = translation.generate_numbers(SOURCE, seed=1)
    c = translation.generate_numbers(SOURCE, seed=2)
    numbers = {k: {r["number"] for r in v} for k, v in a.items()}
    assert [len(numbers[k]) for k in ("train", "validation", "test")] == [300, 50, 80]
    assert not (numbers["train"] & numbers["test"] or numbers["train"] & numbers["validation"]
                or numbers["validation"] & numbers["test"])
    assert a == b and a != c
    assert len({len(str(n)) for n in numbers["train"]}) == 6  # every order of magnitude appears


@pytest.mark.parametrize("n", [0, 1, 16, 17, 21, 70, 101, 1001, 110000, 987654, 999999])
def test_morphemes_join_back_to_num2words(n):
    word = num2words(n, lang="de")
    assert "".join(translation.segment_german(word)) == word
    assert len(translation.segment_german(word)) <= 11


def test_example_pair():
    assert translation.english_words(987654) == "nine hundred and eighty seven thousand six hundred and fifty four"
    assert translation.german_units(987654, "morphemes") == \
        "neun hundert sieben und achtzig tausend sechs hundert vier und fünfzig"
    assert translation.german_units(42, "characters") == "z w e i u n d v i e r z i g"


def test_multi30k_rows_follow_the_direction():
    split = Dataset.from_dict({"en": ["A dog runs."], "de": ["Ein Hund rennt."]})
    de_en, en_de = (translation.rows_from_hub(split, d, "multi30k train") for d in ("de-en", "en-de"))
    assert de_en == [{"source": "Ein Hund rennt.", "target": "A dog runs."}]
    assert en_de == [{"source": "A dog runs.", "target": "Ein Hund rennt."}]


def model_for(params, cell, attention, bidirectional=True):
    section = params["translation"]
    section["model"].update(attention=attention, bidirectional=bidirectional, num_layers=2)
    meta = {"src_vocab_size": 12, "tgt_vocab_size": 10}
    torch.manual_seed(0)
    return translation.build_model(section, meta, cell, 16).eval()


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("attention", ["none", "additive"])
def test_teacher_forced_call_equals_step_by_step(params, cell, attention):
    model = model_for(params, cell, attention)
    src, src_len = torch.randint(4, 12, (3, 5)), torch.tensor([5, 3, 4])
    tgt_in = torch.randint(4, 10, (3, 6))
    full = model(src, src_len, tgt_in, None)  # one RNN call over the whole target
    memory, mask, state = model.encode(src, src_len)
    steps = []
    for t in range(6):
        logits, state = model.decoder(tgt_in[:, t : t + 1], state, memory, mask)
        steps.append(logits)
    assert torch.allclose(full, torch.cat(steps, 1), atol=1e-5)
    assert torch.allclose(model.forward_mixed(src, src_len, tgt_in, ratio=1.0), full, atol=1e-5)


@pytest.mark.parametrize("attention", ["none", "additive"])
def test_beam_of_one_is_greedy(params, attention):
    model = model_for(params, "gru", attention)
    src, src_len = torch.randint(4, 12, (4, 5)), torch.tensor([5, 2, 4, 3])
    greedy = text.greedy_decode(model, (src, src_len), bos=2, eos=3, max_len=8)
    for i in range(4):
        assert text.beam_search(model, (src[i : i + 1], src_len[i : i + 1]), 2, 3, 8, beam_size=1) == greedy[i]


def test_bleu_by_hand():
    assert corpus_bleu([["a", "b", "c", "d"]], [[["a", "b", "c", "d"]]]) == pytest.approx(1.0)
    # unigrams 3/4, bigrams 1/3 (a b), no brevity penalty: BLEU-2 = sqrt(3/4 * 1/3) = 0.5
    assert corpus_bleu([["a", "b", "x", "c"]], [[["a", "b", "c", "d"]]], max_n=2) == pytest.approx(0.5)
    assert corpus_bleu([["x", "y"]], [[["a", "b"]]]) == 0.0


# ---- this recipe's data for the shared tests (tests/test_pipeline.py, test_sizing.py, test_contract.py)

SIZING_META = {"src_vocab_size": 35, "tgt_vocab_size": 31}


def tiny(section: dict, fixtures: Path) -> None:
    """Shrink this recipe's params to seconds of work (the numbers are generated: no fixture files)."""
    section["source"].update(train_size=120, valid_size=20, test_size=20, max_digits=3)
    section["model"].update(embed_dim=8, hidden_size=8, attention="additive", bidirectional=True)
    section["train"].update(epochs=2, teacher_forcing=0.5)
    section["evaluate"].update(beam_size=2)


def predict_inputs(folder: Path) -> list[str]:
    """Raw inputs for the predict test."""
    return ["forty-two", "nine hundred and one"]
