"""Captioning on the user's own images (`dataset: local`): both layouts, both backbones, attention over
regions, and every bad-folder case, on real image files written by PIL here (no network, no download)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torchvision
import yaml
from PIL import Image, ImageDraw

from recipes.captioning.model import Captioner
from recipes.kit.attention import AdditiveAttention
from recipes.translation.model import Decoder
from tests.conftest import dvc, make_study, run_in_process

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (40, 60, 220)}
SHAPES = ("square", "circle")
PICTURES = 24


def picture(i: int) -> tuple[Image.Image, str, str]:
    """Picture i: a coloured square or circle on white, and its colour and shape."""
    colour, shape = list(COLOURS)[i % 3], SHAPES[(i // 3) % 2]
    image = Image.new("RGB", (40, 32), "white")
    box = (4 + i % 5, 4 + i % 4, 24 + i % 5, 24 + i % 4)
    draw = ImageDraw.Draw(image)
    (draw.rectangle if shape == "square" else draw.ellipse)(box, fill=COLOURS[colour])
    return image, colour, shape


def write_pictures(folder: Path) -> list[tuple[str, str, str]]:
    """PICTURES files in folder (JPEG and PNG by turns): (file name, colour, shape) each."""
    folder.mkdir(parents=True)
    written = []
    for i in range(PICTURES):
        image, colour, shape = picture(i)
        name = f"pic{i:02d}.{'png' if i % 2 else 'jpg'}"
        image.save(folder / name)
        written.append((name, colour, shape))
    return written


def captions_folder(root: Path) -> Path:
    """Kaggle's Flickr8k layout: captions.txt (`image,caption`, two per image, one quoted with a comma)
    beside Images/."""
    lines = ["image,caption"]
    for name, colour, shape in write_pictures(root / "Images"):
        lines += [f"{name},a {colour} {shape} .", f'{name},"a {shape} , {colour} on white ."']
    (root / "captions.txt").write_text("\n".join(lines) + "\n")
    return root


def karpathy_folder(root: Path) -> Path:
    """Karpathy's layout: dataset_flickr8k.json with its own split (restval joins train), images in Images/."""
    split = ["train"] * 14 + ["restval"] * 2 + ["val"] * 4 + ["test"] * 4
    images = [{"filename": name, "split": split[i], "sentences": [{"raw": f"A {colour} {shape}."},
                                                                  {"raw": f"{colour} {shape} on white"}]}
              for i, (name, colour, shape) in enumerate(write_pictures(root / "Images"))]
    (root / "dataset_flickr8k.json").write_text(json.dumps({"dataset": "flickr8k", "images": images}))
    return root


def local_params(params: dict, folder: Path, backbone: str, attention: str = "none") -> dict:
    """The committed params cut to one tiny captioning run on the local folder."""
    params = copy.deepcopy(params)
    params.update(recipes=["captioning"], cells=["gru"], seeds=[0])
    params["tune"]["trials"] = 0
    section = params["captioning"]
    section["source"].update(dataset="local", local_path=str(folder), pool_fractions={"validation": 0.2,
                                                                                      "test": 0.2})
    section["data"].update(backbone=backbone, image_size=16)
    section["model"].update(embed_dim=8, hidden_size=8, channels=4, attention=attention, max_output_len=8)
    section["train"].update(epochs=2, batch_size=8, eval_batch_size=16)
    section["evaluate"].update(samples=3, beam_size=2)
    return params


def random_resnet_weights(torch_home: Path) -> None:
    """A randomly initialised ResNet-18 where torch's hub cache keeps the ImageNet file: loaded, never fetched."""
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), folder / "resnet18-f37072fd.pth")


def run_study(project: Path, params: dict, monkeypatch, capsys) -> dict:
    """download → prepare → tune (off) → train → evaluate in-process in `project`; the test metrics."""
    project.mkdir(exist_ok=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for module, args in [("download", ["captioning"]), ("prepare", ["captioning"]), ("tune", ["captioning", "gru"]),
                         ("train", ["captioning", "gru", "0"]), ("evaluate", ["captioning", "gru", "0"])]:
        code, out, err = run_in_process(module, args, project, monkeypatch, capsys)
        assert code == 0, f"{module}: {out[-1500:]} {err[-1500:]}"
    return json.loads((project / "metrics" / "runs" / "captioning" / "gru-seed0.json").read_text())


@pytest.mark.parametrize("layout, backbone, attention", [
    ("captions", "none", "additive"),
    ("karpathy", "resnet18", "additive"),
    ("captions", "resnet18", "none"),
])
def test_a_local_folder_runs_download_to_predict(params, tmp_path, monkeypatch, capsys, layout, backbone, attention):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    random_resnet_weights(tmp_path / "torch")
    folder = (captions_folder if layout == "captions" else karpathy_folder)(tmp_path / "data")
    run = run_study(tmp_path / "project", local_params(params, folder, backbone, attention), monkeypatch, capsys)
    raw = tmp_path / "project" / "data" / "raw" / "captioning"
    source = json.loads((raw / "SOURCE.json").read_text())
    assert source["layout"] == layout and sum(source["rows"].values()) == PICTURES
    splits = [{r["image"] for r in map(json.loads, (raw / f"{s}.jsonl").read_text().splitlines())}
              for s in ("train", "validation", "test")]
    assert all(splits) and sum(map(len, splits)) == PICTURES  # every image once, in one split
    if layout == "karpathy":
        assert source["rows"] == {"train": 16, "validation": 4, "test": 4}  # its own split, restval in train
    meta = json.loads((tmp_path / "project" / "data" / "prepared" / "captioning" / "meta.json").read_text())
    assert meta["encoder_input"] == ("rgb" if backbone == "none" else "features")
    assert meta["input_shape"] == ([3, 16, 16] if backbone == "none" else [49, 512])
    test = run["test"]
    assert run["selected_by"] == "bleu4" and {"bleu1", "bleu4", "sacrebleu"} <= set(test)
    assert 0.0 <= test["bleu4"] <= 1.0 and meta["sacrebleu_signature"].startswith("nrefs:2")
    image = str(tmp_path / "data" / "Images" / "pic00.jpg")
    code, out, err = run_in_process("predict", ["captioning", "gru", image], tmp_path / "project", monkeypatch,
                                    capsys)
    assert code == 0 and len(out.splitlines()) == 1 and out.startswith(image), err


def test_attention_is_one_module_for_translation_and_captioning(params):
    meta = {"vocab_size": 9, "input_shape": [3, 16, 16], "encoder_input": "rgb"}
    section = copy.deepcopy(params["captioning"])
    section["model"].update(attention="additive", channels=4)
    from recipes.captioning import build_model

    model = build_model(section, meta, "lstm", 8)
    assert isinstance(model, Captioner) and type(model.attention) is AdditiveAttention
    assert Decoder("gru", 9, 4, 8, 1, 8, True, 0.0).attention.__class__ is AdditiveAttention
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    memory, mask, _ = model.encode(images)
    assert memory.shape == (2, 64, 8) and mask.all()  # an 8 × 8 grid of regions, 2 × channels each
    logits = model(images, torch.randint(4, 9, (2, 5)), torch.tensor([5, 3]))
    logits.sum().backward()
    assert logits.shape == (2, 5, 9) and model.image_encoder.conv[0].weight.grad.abs().sum() > 0


def break_folder(root: Path, case: str) -> tuple[Path, str]:
    """A folder with one kind of problem, and what the error must say."""
    if case.startswith("karpathy"):
        folder = karpathy_folder(root)
        path = folder / "dataset_flickr8k.json"
        data = json.loads(path.read_text())
        if case == "karpathy: no sentences":
            data["images"][3]["sentences"] = []
            expected = "pic03.png: an image without captions"
        else:
            data["images"][5]["filename"] = "ghost.jpg"
            expected = "ghost.jpg: a caption without an image"
        path.write_text(json.dumps(data))
        return folder, expected
    folder = captions_folder(root)
    images = folder / "Images"
    if case == "missing image":
        (images / "pic04.jpg").unlink()
        return folder, "pic04.jpg: in captions.txt but not in"
    if case == "truncated image":
        data = (images / "pic06.jpg").read_bytes()
        (images / "pic06.jpg").write_bytes(data[: len(data) // 2])
        return folder, "pic06.jpg: not a readable image"
    if case == "not an image":
        (images / "pic07.png").write_text("these are notes, not pixels")
        return folder, "pic07.png: not a readable image"
    if case == "bad captions line":
        with open(folder / "captions.txt", "a") as handle:
            handle.write("pic01.png\n")
        return folder, f"line {2 * PICTURES + 2}: needs an image name and a caption"
    if case == "image without captions":
        picture(0)[0].save(images / "lonely.png")
        return folder, "lonely.png: an image without captions in captions.txt"
    (folder / "captions.txt").unlink()
    return folder, "is neither a folder with captions.txt"


@pytest.mark.parametrize("case", ["missing image", "truncated image", "not an image", "image without captions",
                                  "bad captions line",
                                  "karpathy: no sentences", "karpathy: no file", "neither layout"])
def test_a_bad_folder_is_one_line_and_exit_2(params, tmp_path, monkeypatch, capsys, case):
    folder, expected = break_folder(tmp_path / "data", case)
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(yaml.safe_dump(local_params(params, folder, "none"), sort_keys=False))
    code, _, err = run_in_process("download", ["captioning"], project, monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert expected in err, err
    assert not (project / "data" / "raw" / "captioning").exists()  # nothing half-written


def test_many_problems_show_the_first_few_and_a_count(params, tmp_path, monkeypatch, capsys):
    folder = captions_folder(tmp_path / "data")
    for i in range(6):
        (folder / "Images" / f"pic{i:02d}.{'png' if i % 2 else 'jpg'}").unlink()
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(yaml.safe_dump(local_params(params, folder, "none"), sort_keys=False))
    code, _, err = run_in_process("download", ["captioning"], project, monkeypatch, capsys)
    assert code == 2 and err.startswith("error: 6 problems in ") and "(and 3 more)" in err, err


def test_unreachable_weights_name_both_ways_out(monkeypatch, tmp_path):
    from recipes import captioning
    from recipes.kit.errors import UserError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(UserError, match="resnet18 ImageNet weights.*hub cache.*backbone=none") as caught:
        captioning.pretrained_backbone("resnet18")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("layout", ["captions", "karpathy"])
def test_dvc_exp_run_sets_a_local_folder_and_the_small_cnn(tmp_path, layout):
    """The README's command, for real: `dvc exp run -S` on a git repo of the project's code (tiny params),
    on a folder with captions.txt and on a Karpathy JSON named directly."""
    repo = make_study(tmp_path, run=None, recipes=["captioning"], cells=["gru"])
    folder = captions_folder(tmp_path / "pictures") if layout == "captions" else \
        karpathy_folder(tmp_path / "pictures") / "dataset_flickr8k.json"
    shutil.rmtree(repo / ".dvc")  # make_study's DVC is outside git; exp run needs both
    identity = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.org"}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(argv, cwd=repo, check=True, capture_output=True)
    assert dvc(repo, "init", "-q").returncode == 0
    subprocess.run(["git", "commit", "-qam", "tiny study"], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, **identity})
    result = dvc(repo, "exp", "run", "-S", "captioning.source.dataset=local", "-S",
                 f"captioning.source.local_path={folder}", "-S", "captioning.data.backbone=none", env=identity)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    source = json.loads((repo / "data" / "raw" / "captioning" / "SOURCE.json").read_text())
    assert source["layout"] == layout and sum(source["rows"].values()) == PICTURES
    run = json.loads((repo / "metrics" / "runs" / "captioning" / "gru-seed0.json").read_text())
    assert run["selected_by"] == "bleu4" and "sacrebleu" in run["test"]
    assert dvc(repo, "status", "--json").stdout.strip() == "{}"
