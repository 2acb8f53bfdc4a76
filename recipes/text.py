"""Token sequences in and out: tokenising and vocabularies (torchtext), token ids
stored as padded tensors, and generating ids from a model (greedy, beam, sampling).

Generation works for any model with an encoder-decoder interface:
`encode(*inputs) -> (memory, mask, state)` and
`decoder(tokens [B, 1], state, memory, mask) -> (logits [B, 1, V], state)`;
translation and captioning both provide it.
"""

from __future__ import annotations

from typing import Iterable

import torch
import torchtext
from torch import Tensor, nn

torchtext.disable_torchtext_deprecation_warning()
from torchtext.data.utils import get_tokenizer  # noqa: E402
from torchtext.vocab import build_vocab_from_iterator  # noqa: E402

from recipes.cells import map_state  # noqa: E402

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
PAD_ID = 0  # every vocabulary puts <pad> first


def tokenizer(name: str = "basic_english"):
    """A torchtext tokenizer by name (`basic_english` lower-cases and splits punctuation)."""
    return get_tokenizer(name)


def build_vocab(sequences: Iterable[list[str]], min_freq: int, max_size: int | None = None,
                specials: tuple[str, ...] = (PAD, UNK)) -> list[str]:
    """The vocabulary as a list of tokens, `<pad>` at id 0, most frequent first."""
    assert specials[0] == PAD
    max_tokens = max_size + len(specials) if max_size else None
    vocab = build_vocab_from_iterator(sequences, min_freq=min_freq, specials=list(specials),
                                      special_first=True, max_tokens=max_tokens)
    return vocab.get_itos()


def encode(sequences: list[list[str]], itos: list[str], max_len: int | None = None,
           add_bos_eos: bool = False) -> tuple[Tensor, Tensor]:
    """Map token lists to one padded id tensor [N, T] and lengths [N].

    Unknown tokens map to `<unk>`; sequences longer than `max_len` are cut.
    """
    stoi = {tok: i for i, tok in enumerate(itos)}
    unk = stoi.get(UNK, PAD_ID)
    rows = []
    for seq in sequences:
        ids = [stoi.get(tok, unk) for tok in seq]
        if max_len:
            ids = ids[:max_len]
        if add_bos_eos:
            ids = [stoi[BOS], *ids, stoi[EOS]]
        rows.append(ids)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    width = int(lengths.max()) if rows else 0
    tokens = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    for i, ids in enumerate(rows):
        tokens[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return tokens, lengths


def decode(ids: list[int], itos: list[str], stop: str = EOS) -> list[str]:
    """Token ids back to tokens, stopping at `stop` and skipping specials."""
    out = []
    for i in ids:
        tok = itos[i]
        if tok == stop:
            break
        if tok not in (PAD, BOS):
            out.append(tok)
    return out


@torch.no_grad()
def greedy_decode(model: nn.Module, inputs: tuple, bos: int, eos: int, max_len: int) -> list[list[int]]:
    """Greedy outputs for a batch (`inputs[0]` has the batch first), each cut before its first <eos>."""
    memory, mask, state = model.encode(*inputs)
    device = next(model.parameters()).device
    token = torch.full((inputs[0].size(0), 1), bos, dtype=torch.long, device=device)
    outputs, finished = [], torch.zeros(token.size(0), dtype=torch.bool, device=device)
    for _ in range(max_len):
        logits, state = model.decoder(token, state, memory, mask)
        token = logits.argmax(-1)  # [B, 1]
        outputs.append(token)
        finished |= token[:, 0] == eos
        if bool(finished.all()):
            break
    rows = torch.cat(outputs, 1).tolist()
    return [row[: row.index(eos)] if eos in row else row for row in rows]


@torch.no_grad()
def beam_search(model: nn.Module, inputs: tuple, bos: int, eos: int, max_len: int, beam_size: int) -> list[int]:
    """Beam search for one example (batch of 1); the live beams run as one batch.

    Returns the finished hypothesis with the best log-probability (without <bos>/<eos>).
    """
    memory, mask, state = model.encode(*inputs)
    device = next(model.parameters()).device
    beams, scores = [[bos]], torch.zeros(1, device=device)
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        k = len(beams)
        last = torch.tensor([[b[-1]] for b in beams], device=device)  # [k, 1]
        logits, state = model.decoder(last, state, _repeat(memory, k), _repeat(mask, k))
        total = scores[:, None] + logits[:, -1].log_softmax(-1)  # [k, V]
        top = total.flatten().topk(beam_size)
        rows, tokens, kept = [], [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            row, token = divmod(flat, total.size(1))
            if token == eos:
                finished.append((beams[row] + [token], score))
            else:
                rows.append(row), tokens.append(token), kept.append(score)
        if not rows:
            break
        beams = [beams[r] + [t] for r, t in zip(rows, tokens)]
        scores = torch.tensor(kept, device=device)
        index = torch.tensor(rows, device=device)
        state = map_state(state, lambda s, index=index: s[:, index])  # [L, k, H]: the surviving beams' states
        # Scores only fall as hypotheses grow: stop once no live beam can beat the best finished one.
        if finished and max(f[1] for f in finished) >= float(scores.max()):
            break
    best = max(finished or list(zip(beams, scores.tolist())), key=lambda f: f[1])[0]
    return [t for t in best[1:] if t != eos]


def _repeat(tensor: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """A batch-of-one tensor repeated for k beams (None stays None)."""
    return None if tensor is None else tensor.expand(k, *tensor.shape[1:])
