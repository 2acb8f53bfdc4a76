"""Greedy decoding and beam search for any model with an encoder-decoder interface.

The model provides `encode(*inputs) -> (memory, mask, state)` and
`decoder(tokens [B, 1], state, memory, mask) -> (logits [B, 1, V], state)`;
translation and captioning both do.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def greedy_decode(model: nn.Module, inputs: tuple, bos: int, eos: int, max_len: int) -> list[list[int]]:
    """Greedy outputs for a batch (`inputs[0]` has the batch first), each cut before its first <eos>."""
    memory, mask, state = model.encode(*inputs)
    device = next(model.parameters()).device
    token = torch.full((inputs[0].size(0), 1), bos, dtype=torch.long, device=device)
    outputs = []
    for _ in range(max_len):
        logits, state = model.decoder(token, state, memory, mask)
        token = logits.argmax(-1)  # [B, 1]
        outputs.append(token)
        if bool((torch.cat(outputs, 1) == eos).any(1).all()):
            break
    rows = torch.cat(outputs, 1).tolist()
    return [row[: row.index(eos)] if eos in row else row for row in rows]


@torch.no_grad()
def beam_search(model: nn.Module, inputs: tuple, bos: int, eos: int, max_len: int, beam_size: int) -> list[int]:
    """Beam search for one example (batch of 1): the finished hypothesis with the best log-probability."""
    memory, mask, state = model.encode(*inputs)
    device = next(model.parameters()).device
    beams = [([bos], 0.0, state)]
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        candidates = []
        for tokens, score, beam_state in beams:
            logits, new_state = model.decoder(torch.tensor([[tokens[-1]]], device=device), beam_state, memory, mask)
            top = logits[0, -1].log_softmax(-1).topk(beam_size)
            candidates += [(tokens + [i], score + lp, new_state) for lp, i in zip(top.values.tolist(),
                                                                                   top.indices.tolist())]
        candidates.sort(key=lambda c: c[1], reverse=True)
        beams = []
        for tokens, score, beam_state in candidates[:beam_size]:
            if tokens[-1] == eos:
                finished.append((tokens, score))
            else:
                beams.append((tokens, score, beam_state))
        # Scores only fall as hypotheses grow: stop once no live beam can beat the best finished one.
        if not beams or (finished and max(f[1] for f in finished) >= beams[0][1]):
            break
    best = max(finished or [(b[0], b[1]) for b in beams], key=lambda f: f[1])[0]
    return [t for t in best[1:] if t != eos]
