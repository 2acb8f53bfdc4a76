"""Token sequences in and out: tokenising and vocabularies (torchtext), token ids
stored as padded tensors, and generating ids from a model (greedy, beam, sampling).

Generation works for any model with an encoder-decoder interface:
`encode(*inputs) -> (memory, mask, state)` and
`decoder(tokens [B, 1], state, memory, mask) -> (logits [B, 1, V], state)`;
translation and captioning both provide it.
"""

from __future__ import annotations

import re
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


def detokenize(tokens: list[str]) -> str:
    """Tokens back to running text for sacreBLEU: `a man , in a ( blue ) shirt .` → `a man, in a (blue) shirt.`"""
    joined = " ".join(tokens)
    joined = re.sub(r" ([.,!?)])", r"\1", joined)
    return re.sub(r"\( ", "(", joined).replace(" ' ", "'")


JOINER = "\uffed"  # ￭ marks the side of a punctuation token that touched its neighbour (OpenNMT's joiner)
WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")


def split_cased(sentence: str) -> list[str]:
    """Words and punctuation marks as tokens, case kept; a mark glued to its neighbour carries a joiner on
    that side, so `join_cased` restores the sentence (any run of spaces as one): `Tom's here.` →
    `Tom ￭'￭ s here ￭.`"""
    matches = list(WORD_OR_MARK.finditer(sentence))
    tokens = [m.group() for m in matches]
    for i in range(1, len(matches)):
        if matches[i].start() != matches[i - 1].end():
            continue  # a space between them
        if not tokens[i][-1].isalnum() and tokens[i][-1] != "_":  # the right one is a mark: it joins leftwards
            tokens[i] = JOINER + tokens[i]
        else:  # a word after a mark: the mark joins rightwards
            tokens[i - 1] = tokens[i - 1] + JOINER
    return tokens


def join_cased(tokens: list[str]) -> str:
    """`split_cased`'s tokens (or a model's output in them) back to running text."""
    joined = " ".join(tokens).replace(JOINER + " ", "").replace(" " + JOINER, "")
    return joined.replace(JOINER, "")


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


@torch.no_grad()
def beam_search_batch(model: nn.Module, inputs: tuple, bos: int, eos: int, max_len: int,
                      beam_size: int) -> list[list[int]]:
    """`beam_search` for every example of a batch at once, as one decoder batch of B × beam_size rows.

    Each example owns `beam_size` slots; a slot without a live hypothesis scores -inf, so it
    never reaches a top-k. An example stops where `beam_search` would; the batch stops when all have.
    """
    memory, mask, state = model.encode(*inputs)
    device = next(model.parameters()).device
    batch, k, dead = inputs[0].size(0), beam_size, float("-inf")
    memory, mask = _repeat_each(memory, k), _repeat_each(mask, k)  # [B*K, S, ...]
    state = map_state(state, lambda s: s.repeat_interleave(k, dim=1))  # [L, B*K, H]
    scores = torch.full((batch, k), dead, device=device)
    scores[:, 0] = 0.0  # one live hypothesis per example: <bos>
    beams = [[[bos]] * k for _ in range(batch)]
    finished: list[list[tuple[list[int], float]]] = [[] for _ in range(batch)]
    done = [False] * batch
    for _ in range(max_len):
        last = torch.tensor([[b[-1]] for slots in beams for b in slots], device=device)  # [B*K, 1]
        logits, state = model.decoder(last, state, memory, mask)
        total = scores[:, :, None] + logits[:, -1].log_softmax(-1).view(batch, k, -1)  # [B, K, V]
        top = total.view(batch, -1).topk(k, dim=-1)  # [B, K]: the best continuations over all slots
        origin = torch.arange(batch * k, device=device).view(batch, k)  # which row each new slot continues
        new_scores = torch.full_like(scores, dead)
        for b, (values, flats) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
            if done[b]:
                continue
            live = []
            for score, flat in zip(values, flats):
                row, token = divmod(flat, total.size(2))
                if token == eos:
                    finished[b].append((beams[b][row] + [token], score))
                else:
                    live.append((beams[b][row] + [token], score, b * k + row))
            for slot, (hypothesis, score, row) in enumerate(live):
                beams[b][slot], new_scores[b, slot], origin[b, slot] = hypothesis, score, row
            if not live or (finished[b] and max(f[1] for f in finished[b]) >= max(s for _, s, _ in live)):
                done[b] = True  # `beam_search` breaks here
                new_scores[b] = dead
            else:
                beams[b][len(live):] = [beams[b][0]] * (k - len(live))  # dead slots: any token, score -inf
        if all(done):
            break
        scores, index = new_scores, origin.flatten()
        state = map_state(state, lambda s, index=index: s[:, index])  # [L, B*K, H]
    return [_best(finished[b], beams[b], scores[b].tolist(), eos) for b in range(batch)]


def _best(finished: list[tuple[list[int], float]], beams: list[list[int]], scores: list[float],
          eos: int) -> list[int]:
    """The best finished hypothesis, else the best live one, without <bos> and <eos>."""
    live = [(b, s) for b, s in zip(beams, scores) if s != float("-inf")]
    best = max(finished or live, key=lambda f: f[1])[0]
    return [t for t in best[1:] if t != eos]


def _repeat_each(tensor: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """Each example of a batch repeated k times in a row: [B, ...] → [B*k, ...] (None stays None)."""
    return None if tensor is None else tensor.repeat_interleave(k, dim=0)


def _repeat(tensor: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """A batch-of-one tensor repeated for k beams (None stays None)."""
    return None if tensor is None else tensor.expand(k, *tensor.shape[1:])
