"""Greedy decoding and beam search for any model with an encoder-decoder interface.

The model provides `encode(*inputs) -> (memory, mask, state)` and
`decoder(tokens [B, 1], state, memory, mask) -> (logits [B, 1, V], state)`;
translation and captioning both do.
"""

from __future__ import annotations

import torch
from torch import nn

from recipes.cells import map_state


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
