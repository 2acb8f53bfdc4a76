"""Translation: number generator, hub rows, Multi30k's file layout, teacher forcing vs stepping,
beam vs greedy, batched vs per-sentence beams, BLEU against raw references, sacreBLEU, best-epoch choice."""

import gzip
import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from num2words import num2words

from recipes import translation
from recipes.kit import text
from recipes.kit.contract import Step, selection_metric
from recipes.kit.engine import fit
from recipes.kit.errors import UserError
from recipes.kit.metrics import corpus_bleu, sacre_bleu
from recipes.kit.params import load_params
from stages.common.runs import load_trained, start_run

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


def test_sacrebleu_by_hand():
    # 13a splits the final "." off; lower-cased: a b c d . vs a b c e . → n-gram matches 4/5, 2/4, 1/3, 0/2;
    # smooth "exp" gives the empty 4-gram precision 1/(2·2): BLEU = (4/5 · 2/4 · 1/3 · 1/4) ** (1/4)
    score, signature = sacre_bleu(["a b c d."], [["A b c e."]], lowercase=True)
    assert score == pytest.approx(100 * (4 / 5 * 2 / 4 * 1 / 3 * 1 / 4) ** 0.25)
    assert signature.startswith("nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:")
    assert sacre_bleu(["A man, in a (blue) shirt."], [["A man, in a (blue) shirt."]], lowercase=False)[0] == \
        pytest.approx(100)
    assert text.detokenize(text.tokenizer()("A man, in a (blue) shirt.")) == "a man, in a (blue) shirt."


def write_parallel(folder: Path, stem: str, pairs: list[tuple[str, str]]) -> None:
    """Multi30k's layout: <stem>.de.gz and <stem>.en.gz, line i of one translating line i of the other."""
    for lang, column in (("de", 0), ("en", 1)):
        with gzip.open(folder / f"{stem}.{lang}.gz", "wt", encoding="utf-8") as handle:
            handle.write("".join(p[column] + "\n" for p in pairs))


PAIRS = [("Ein Hund rennt.", "A dog runs."), ("Zwei Hunde spielen.", "Two dogs play."),
         ("Ein Mann läuft.", "A man walks.")]


@pytest.fixture
def multi30k(tmp_path):
    """A folder in Multi30k's layout; the test sentence has a word ("Zebra") that training never saw."""
    folder = tmp_path / "multi30k"
    folder.mkdir()
    write_parallel(folder, "train", PAIRS * 2)
    write_parallel(folder, "val", PAIRS[:1])
    write_parallel(folder, "test_2016_flickr", [("Ein Zebra rennt.", "A Zebra runs.")])
    return folder


def test_local_folder_in_multi30k_layout_is_read_and_scored_against_raw_references(params, tmp_path, multi30k):
    section = params["translation"]
    section["source"].update(dataset="local", local_path=str(multi30k), direction="de-en")
    raw, prepared = tmp_path / "raw", tmp_path / "prepared"
    raw.mkdir()
    translation.download(section, raw, seed=0)
    first = json.loads((raw / "train.jsonl").read_text().splitlines()[0])
    assert first == {"source": "Ein Hund rennt.", "target": "A dog runs."}
    translation.prepare(section, raw, prepared, seed=0)
    task = translation.make_task(section, prepared, torch.device("cpu"))
    test = task.splits["test"]
    assert test["reference_text"] == ["A Zebra runs."] and test["references"] == [["a", "zebra", "runs", "."]]
    assert text.UNK in text.decode(test["tgt"][0].tolist(), task.tgt_itos)  # the vocabulary-mapped copy lost it
    assert task.meta["sacrebleu_signature"].startswith("nrefs:1|case:lc")
    assert selection_metric(translation, section) == "bleu"


def test_parallel_files_that_disagree_are_refused(params, tmp_path, multi30k):
    write_parallel(multi30k, "val", PAIRS)
    (multi30k / "val.en.gz").write_bytes(gzip.compress(b"one line only\n"))
    section = params["translation"]
    section["source"].update(dataset="local", local_path=str(multi30k))
    with pytest.raises(UserError, match="val.de.gz has 3 lines but .*val.en.gz has 1"):
        translation.download(section, tmp_path, seed=0)
    (multi30k / "val.en.gz").write_bytes(b"not gzip")
    with pytest.raises(UserError, match="val.en.gz cannot be read .*replace it with an intact copy"):
        translation.download(section, tmp_path, seed=0)


@pytest.mark.parametrize("cell, attention, beam", [("gru", "additive", 3), ("lstm", "none", 2), ("rnn", "additive", 4)])
def test_batched_beam_search_equals_per_sentence_on_random_models(params, cell, attention, beam):
    model = model_for(params, cell, attention)
    torch.manual_seed(1)
    src, src_len = torch.randint(4, 12, (12, 6)), torch.randint(1, 7, (12,))
    one = [text.beam_search(model, (src[i : i + 1], src_len[i : i + 1]), 2, 3, 9, beam) for i in range(12)]
    assert text.beam_search_batch(model, (src, src_len), 2, 3, 9, beam) == one


def test_batched_beam_search_equals_per_sentence_on_a_trained_model(study, monkeypatch):
    monkeypatch.chdir(study)
    run = start_run(load_params("params.yaml", "translation"), "translation", 0)
    model, _ = load_trained(run, "translation", "lstm", 0)
    for beam in (2, 3, 5):
        batched = run.task.translate(model, "test", beam)
        assert batched == run.task.translate(model, "test", beam, batched=False)
    assert len({len(h) for h in batched}) > 1  # hypotheses of several lengths: beams finished at different steps


class ScriptedTask:
    """A task whose validation scores follow a script (exact match stuck at 0, BLEU and loss improving):
    the engine's choice of best epoch is the thing under test."""

    meta: dict = {}

    def __init__(self, valid: list[dict]) -> None:
        self.valid, self.calls = valid, 0

    def train_batches(self, generator):
        return [0]

    def step(self, model, batch):
        return Step((model.weight ** 2).sum(), 1, 1)

    def evaluate(self, model, split):
        self.calls += 1
        return self.valid[self.calls - 1]

    def samples(self, model, out_dir):
        return ""


SCRIPT = [{"exact_match": 0.0, "bleu": 0.05, "loss": 4.0}, {"exact_match": 0.0, "bleu": 0.20, "loss": 3.5},
          {"exact_match": 0.0, "bleu": 0.15, "loss": 3.4}, {"exact_match": 0.0, "bleu": 0.10, "loss": 3.6}]


@pytest.mark.parametrize("dataset, select_by, best", [
    ("local", "auto", 2),  # real sentences: BLEU picks epoch 2
    ("multi30k", "loss", 3),
    ("embedded", "auto", 3),  # exact match is tied at 0 all along: the tie goes to the lowest loss
    ("local", "exact_match", 3),
])
def test_best_epoch_follows_a_metric_that_moves(params, dataset, select_by, best):
    section = params["translation"]
    section["source"]["dataset"], section["train"]["select_by"] = dataset, select_by
    metric = selection_metric(translation, section)
    model = torch.nn.Linear(2, 2)
    cfg = {**section["train"], "epochs": 4, "patience": 4, "lr": 0.1}
    result = fit(ScriptedTask(SCRIPT), model, cfg, torch.Generator(), metric, translation.DIRECTIONS[metric],
                 log=lambda line: None)
    assert result.best_epoch == best


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
