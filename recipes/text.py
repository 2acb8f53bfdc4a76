"""Tokenising and vocabularies (torchtext), and token ids stored as padded tensors."""

from __future__ import annotations

from typing import Iterable

import torch
import torchtext
from torch import Tensor

torchtext.disable_torchtext_deprecation_warning()
from torchtext.data.utils import get_tokenizer  # noqa: E402
from torchtext.vocab import build_vocab_from_iterator  # noqa: E402

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
