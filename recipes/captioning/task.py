"""The captioning task: teacher-forced training steps, greedy and beam decoding, BLEU and exact match,
the contact sheet of samples, and captions for the user's own images.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from recipes.captioning.data import encode_images, lowercases
from recipes.kit import text
from recipes.kit.batching import bucket_batches
from recipes.kit.contract import Step
from recipes.kit.errors import UserError
from recipes.kit.metrics import corpus_bleu, exact_match, sacre_bleu
from recipes.kit.splits import load_prepared


class CaptioningTask:
    """Batches of (image, caption) pairs, teacher-forced loss, BLEU against all references."""

    def __init__(self, section: dict, data_dir: Path, device: torch.device) -> None:
        self.splits, self.itos, self.meta = load_prepared(data_dir)
        self.section = section
        self.cfg, self.eval_cfg = section["train"], section["evaluate"]
        self.max_output_len = section["model"]["max_output_len"]  # validation decodes too: a model setting
        self.device = device
        self.bos, self.eos = self.itos.index(text.BOS), self.itos.index(text.EOS)

    def train_batches(self, generator: torch.Generator) -> list[Tensor]:
        """Caption indices bucketed by caption length (the decoder's sequence)."""
        return bucket_batches(self.splits["train"]["caption_len"], self.cfg["batch_size"], generator)

    def _loss(self, model: nn.Module, split: dict, index: Tensor, reduction: str = "mean"):
        cap_len = split["caption_len"][index]
        caps = split["caption"][index, : int(cap_len.max())].to(self.device)
        inputs = split["inputs"][split["owner"][index]].to(self.device)
        logits = model(inputs, caps[:, :-1], cap_len - 1)
        target = caps[:, 1:]
        mask = target != text.PAD_ID
        return nn.functional.cross_entropy(logits[mask], target[mask], reduction=reduction), int(mask.sum())

    def step(self, model: nn.Module, index: Tensor) -> Step:
        """Mean cross-entropy over the real caption tokens of a batch."""
        loss, tokens = self._loss(model, self.splits["train"], index)
        return Step(loss, len(index), tokens)

    def caption(self, model: nn.Module, split_name: str, beam_size: int, limit: int | None = None) -> list[list[str]]:
        """A caption for each of the first `limit` images of a split (all by default)."""
        inputs, max_len = self.splits[split_name]["inputs"][:limit], self.max_output_len
        outputs = []
        for start in range(0, len(inputs), self.cfg["eval_batch_size"]):
            batch = inputs[start : start + self.cfg["eval_batch_size"]].to(self.device)
            if beam_size == 1:
                outputs += text.greedy_decode(model, (batch,), self.bos, self.eos, max_len)
            else:
                outputs += text.beam_search_batch(model, (batch,), self.bos, self.eos, max_len, beam_size)
        return [text.decode(o, self.itos) for o in outputs]

    def evaluate(self, model: nn.Module, split_name: str) -> dict[str, float]:
        """Exact match, BLEU-4 and loss; on test also BLEU-1..3 and sacreBLEU, against every raw reference."""
        split = self.splits[split_name]
        loss_sum, tokens = 0.0, 0
        for index in torch.arange(len(split["owner"])).split(self.cfg["eval_batch_size"]):
            loss, n = self._loss(model, split, index, reduction="sum")
            loss_sum, tokens = loss_sum + float(loss), tokens + n
        beam = 1 if split_name == "valid" else self.eval_cfg["beam_size"]
        hyps = self.caption(model, split_name, beam)
        metrics = {"exact_match": exact_match(hyps, split["references"]), "loss": loss_sum / max(tokens, 1),
                   "bleu4": corpus_bleu(hyps, split["references"])}
        if split_name != "valid":
            metrics.update({f"bleu{n}": corpus_bleu(hyps, split["references"], max_n=n) for n in range(1, 4)})
            metrics["sacrebleu"], _ = sacre_bleu([text.detokenize(h) for h in hyps], split["reference_text"],
                                                 lowercases(self.meta["source"]))
        return metrics

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """Captions of the first test images, and (for image strips) a contact sheet PNG."""
        split, n = self.splits["test"], min(self.eval_cfg["samples"], len(self.splits["test"]["references"]))
        hyps = self.caption(model, "test", self.eval_cfg["beam_size"], limit=n)
        correct = [hyps[i] in split["references"][i] for i in range(n)]
        lines = ["| # | reference | caption | |", "|---|---|---|---|"]
        for i in range(n):
            mark = "✓" if correct[i] else "✗"
            lines.append(f"| {i + 1} | {' '.join(split['references'][i][0])} | {' '.join(hyps[i])} | {mark} |")
        if self.meta["encoder_input"] == "strip":
            contact_sheet(split["inputs"][:n], hyps, correct, out_dir / "contact_sheet.png")
            lines.append("\n![contact sheet](contact_sheet.png)")
        return "\n".join(lines) + "\n"


def contact_sheet(strips: Tensor, captions: list[list[str]], correct: list[bool], path: Path) -> None:
    """A PNG grid of framed strips with the model's caption under each (wrong ones in red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = (len(strips) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 1.4 * rows), squeeze=False)
    for ax in axes.flat[len(strips):]:
        ax.axis("off")
    for ax, strip, caption, ok in zip(axes.flat, strips, captions, correct):
        ax.imshow(strip.numpy(), cmap="gray_r", vmin=0, vmax=16)
        ax.set_xticks([]), ax.set_yticks([])  # keep the frame: it shows where one strip ends
        for spine in ax.spines.values():
            spine.set_color("0.6")
        text = " ".join(caption) or "(empty)"
        ax.set_title(text if ok else f"✗ {text}", fontsize=8, y=-0.4, color="black" if ok else "tab:red")
    fig.tight_layout(w_pad=2.0)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def make_task(section: dict, data_dir: Path, device: torch.device) -> CaptioningTask:
    """The engine's view of the prepared captioning data."""
    return CaptioningTask(section, data_dir, device)


def read_image(path: str):
    """A PIL image from a file; an unreadable file is a `UserError` naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.copy()
    except (OSError, UnidentifiedImageError) as err:
        raise UserError(f"{path} is not a readable image ({type(err).__name__}); give a PNG or JPEG file") from err


def strip_from_image(image, shape: list[int]) -> Tensor:
    """A drawing (dark ink on a light background) as a digit strip [H, W] of UCI levels 0..16."""
    height, width = shape
    gray = torch.tensor(list(image.convert("L").resize((width, height)).tobytes()), dtype=torch.float)
    return (16 - (gray * 16 / 255).round()).to(torch.uint8).view(height, width)


@torch.no_grad()
def predict(task: CaptioningTask, model: nn.Module, inputs: list[str]) -> list[str]:
    """A caption for each image file, encoded as `prepare` does (strip pixels, RGB bytes or frozen features)."""
    images, shape = [read_image(path) for path in inputs], task.meta["input_shape"]
    if task.meta["encoder_input"] == "strip":
        batch = torch.stack([strip_from_image(image, shape) for image in images])
    else:
        batch, _ = encode_images(images, task.section["data"])
    captions = text.beam_search_batch(model, (batch.to(task.device),), task.bos, task.eos, task.max_output_len,
                                      task.eval_cfg["beam_size"])
    return [" ".join(text.decode(ids, task.itos)) or "(empty caption)" for ids in captions]
