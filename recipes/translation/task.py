"""The translation task: teacher-forced training steps, greedy and beam decoding, BLEU and exact match.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from recipes.kit import text
from recipes.kit.batching import bucket_batches, sorted_batches
from recipes.kit.contract import Step
from recipes.kit.errors import UserError
from recipes.kit.metrics import corpus_bleu, exact_match, sacre_bleu
from recipes.kit.splits import load_prepared
from recipes.translation.data import detokenizer_of, lowercases, tokenizer_of


class TranslationTask:
    """Batches, teacher-forced loss and decoding metrics, for the engine."""

    def __init__(self, section: dict, data_dir: Path, device: torch.device) -> None:
        self.splits, vocab, self.meta = load_prepared(data_dir)
        self.section = section
        self.src_itos, self.tgt_itos = vocab["src"], vocab["tgt"]
        self.cfg, self.eval_cfg = section["train"], section["evaluate"]
        self.max_output_len = section["model"]["max_output_len"]  # validation decodes too: a model setting
        self.device = device
        self.bos, self.eos = self.tgt_itos.index(text.BOS), self.tgt_itos.index(text.EOS)
        self.detokenize = detokenizer_of(self.meta["source"])

    def train_batches(self, generator: torch.Generator) -> list[Tensor]:
        """Batches bucketed by source length, then target length."""
        split = self.splits["train"]
        key = split["src_len"] * 1000 + split["tgt_len"]
        return bucket_batches(key, self.cfg["batch_size"], generator)

    def _batch(self, split: dict, index: Tensor):
        src_len, tgt_len = split["src_len"][index], split["tgt_len"][index]
        src = split["src"][index, : int(src_len.max())].to(self.device)
        tgt = split["tgt"][index, : int(tgt_len.max())].to(self.device)
        return src, src_len, tgt, tgt_len

    def _loss(self, model: nn.Module, split: dict, index: Tensor, ratio: float = 1.0, reduction: str = "mean"):
        src, src_len, tgt, tgt_len = self._batch(split, index)
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # <bos> w1 … → w1 … <eos>
        if ratio >= 1.0:
            logits = model(src, src_len, tgt_in, tgt_len - 1)
        else:
            logits = model.forward_mixed(src, src_len, tgt_in, ratio)
        mask = tgt_out != text.PAD_ID
        loss = nn.functional.cross_entropy(logits[mask], tgt_out[mask], reduction=reduction)
        return loss, int(mask.sum())

    def step(self, model: nn.Module, index: Tensor) -> Step:
        """Mean cross-entropy over the real target tokens of a batch."""
        loss, tokens = self._loss(model, self.splits["train"], index, self.cfg["teacher_forcing"])
        return Step(loss, len(index), tokens)

    def translate(self, model: nn.Module, split_name: str, beam_size: int, limit: int | None = None,
                  batched: bool = True) -> list[list[str]]:
        """Output tokens for the first `limit` examples (all by default); `batched=False` runs beam
        search one sentence at a time (the benchmark's yardstick)."""
        split, max_len = self.splits[split_name], self.max_output_len
        n = len(split["src_len"]) if limit is None else min(limit, len(split["src_len"]))
        outputs: dict[int, list[int]] = {}
        for index in sorted_batches(split["src_len"][:n], self.cfg["eval_batch_size"]):
            src, src_len, _, _ = self._batch(split, index)
            if beam_size == 1:
                decoded = text.greedy_decode(model, (src, src_len), self.bos, self.eos, max_len)
            elif batched:
                decoded = text.beam_search_batch(model, (src, src_len), self.bos, self.eos, max_len, beam_size)
            else:
                decoded = [text.beam_search(model, (src[j : j + 1], src_len[j : j + 1]), self.bos, self.eos, max_len,
                                            beam_size) for j in range(len(index))]
            outputs.update(zip(index.tolist(), decoded))
        return [text.decode(outputs[i], self.tgt_itos) for i in range(n)]

    def evaluate(self, model: nn.Module, split_name: str) -> dict[str, float]:
        """Validation: greedy exact match, token BLEU and loss. Test: beam search, also sacreBLEU, perplexity
        and the share of output tokens that are `<unk>`. BLEU of either kind is scored against the raw
        references."""
        split = self.splits[split_name]
        loss_sum, tokens = 0.0, 0
        for index in sorted_batches(split["src_len"], self.cfg["eval_batch_size"]):
            loss, n = self._loss(model, split, index, reduction="sum")
            loss_sum, tokens = loss_sum + float(loss), tokens + n
        loss = loss_sum / max(tokens, 1)
        beam = 1 if split_name == "valid" else self.eval_cfg["beam_size"]
        hyps, refs = self.translate(model, split_name, beam), [[r] for r in split["references"]]
        metrics = {"exact_match": exact_match(hyps, refs), "bleu": corpus_bleu(hyps, refs), "loss": loss}
        if split_name != "valid":
            texts, lowercase = [self.detokenize(h) for h in hyps], lowercases(self.meta["source"])
            metrics["sacrebleu"], _ = sacre_bleu(texts, [[r] for r in split["reference_text"]], lowercase)
            metrics["perplexity"] = float(torch.tensor(loss).exp())
            metrics["unk_share"] = sum(h.count(text.UNK) for h in hyps) / max(sum(map(len, hyps)), 1)
        return metrics

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """The first test sources with reference and output."""
        split = self.splits["test"]
        hyps = self.translate(model, "test", self.eval_cfg["beam_size"], limit=self.eval_cfg["samples"])
        lines = ["| source | reference | output | |", "|---|---|---|---|"]
        for i, hyp in enumerate(hyps):
            src = text.decode(split["src"][i, : int(split["src_len"][i])].tolist(), self.src_itos)
            mark = "✓" if hyp == split["references"][i] else "✗"
            lines.append(f"| {self.detokenize(src)} | {split['reference_text'][i]} | {self.detokenize(hyp)} | {mark} |")
        return "\n".join(lines) + "\n"


def make_task(section: dict, data_dir: Path, device: torch.device) -> TranslationTask:
    """The engine's view of the prepared translation data."""
    return TranslationTask(section, data_dir, device)


@torch.no_grad()
def predict(task: TranslationTask, model: nn.Module, inputs: list[str]) -> list[str]:
    """The translation of each raw sentence: tokenised as `prepare` does, beam search with evaluate.beam_size."""
    tokenize = tokenizer_of(task.meta["source"])
    tokens = [[*tokenize(line)][: task.section["data"]["max_len"]] for line in inputs]
    if not all(tokens):
        raise UserError("an input has no tokens: give each sentence at least one word")
    src, src_len = text.encode(tokens, task.src_itos)
    decoded = text.beam_search_batch(model, (src.to(task.device), src_len), task.bos, task.eos,
                                     task.max_output_len, task.eval_cfg["beam_size"])
    return [task.detokenize(text.decode(ids, task.tgt_itos)) for ids in decoded]
