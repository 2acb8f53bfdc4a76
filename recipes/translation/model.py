"""Translation models: a recurrent encoder, a decoder with optional additive attention
(recipes/kit/attention.py), and the seq2seq model that joins them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recipes.cells import build_cell, map_state
from recipes.kit import text
from recipes.kit.attention import AdditiveAttention
from recipes.kit.batching import real_positions


class Encoder(nn.Module):
    """Embedding → cell over the source; a bidirectional state is bridged to the decoder's size."""

    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, layers: int, bidirectional: bool,
                 dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=text.PAD_ID)
        self.rnn = build_cell(cell, embed, hidden, layers, bidirectional, dropout)
        self.bridge = nn.Linear(2 * hidden, hidden) if bidirectional else None
        self.drop = nn.Dropout(dropout)

    def _bridge(self, h: Tensor) -> Tensor:
        layers, batch = h.size(0) // 2, h.size(1)
        pairs = h.view(layers, 2, batch, -1).permute(0, 2, 1, 3).reshape(layers, batch, -1)  # [L, B, 2H]
        return torch.tanh(self.bridge(pairs))  # [L, B, H]

    def forward(self, src: Tensor, src_len: Tensor):
        """src [B, S] → memory [B, S, H*D], state for the decoder ([L, B, H] per tensor)."""
        memory, state = self.rnn(self.drop(self.embed(src)), src_len)
        if self.bridge is not None:
            state = map_state(state, self._bridge)
        return memory, state


class Decoder(nn.Module):
    """Embedding → cell → (additive attention over the source) → vocabulary logits.

    With `tied`, the output is first projected to the embedding size and scored against the target
    embeddings (Press & Wolf 2017): the softmax layer, the largest cost on a real vocabulary, shrinks
    from (H + K) × V to E × V multiply-adds per word.
    """

    def __init__(self, cell: str, vocab: int, embed: int, hidden: int, layers: int, memory_size: int,
                 attention: bool, dropout: float, tied: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=text.PAD_ID)
        self.rnn = build_cell(cell, embed, hidden, layers, False, dropout)
        self.attention = AdditiveAttention(hidden, memory_size, hidden) if attention else None
        self.drop = nn.Dropout(dropout)
        features = hidden + (memory_size if attention else 0)
        self.project = nn.Sequential(nn.Linear(features, embed), nn.Tanh()) if tied else nn.Identity()
        self.out = nn.Linear(embed if tied else features, vocab)
        if tied:
            self.out.weight = self.embed.weight  # [V, E]: one matrix reads and writes words

    def forward(self, inputs: Tensor, state, memory: Tensor, mask: Tensor, lengths: Tensor | None = None):
        """inputs [B, T] (T=1 for one step) → logits [B, T, V], new state.

        The cell's input is only the previous token, so with full teacher
        forcing all T steps run in one call; attention reads the outputs.
        """
        out, state = self.rnn(self.drop(self.embed(inputs)), lengths, state)  # [B, T, H]
        if self.attention is not None:
            out = torch.cat([out, self.attention(out, memory, mask)], dim=-1)  # [B, T, H + K]
        return self.out(self.project(self.drop(out))), state  # [B, T, V]


class Seq2Seq(nn.Module):
    """Encoder → decoder started from the encoder's final state."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def encode(self, src: Tensor, src_len: Tensor):
        """Memory, its mask [B, S] and the decoder's initial state."""
        memory, state = self.encoder(src, src_len)
        mask = real_positions(src_len, src.size(1), src.device)  # [B, S]
        return memory, mask, state

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, tgt_len: Tensor) -> Tensor:
        """Teacher-forced logits [B, T, V] for decoder inputs tgt_in [B, T]."""
        memory, mask, state = self.encode(src, src_len)
        logits, _ = self.decoder(tgt_in, state, memory, mask, tgt_len)
        return logits

    def forward_mixed(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, ratio: float) -> Tensor:
        """Step by step: each step feeds the gold token with probability `ratio`, else the model's own guess."""
        memory, mask, state = self.encode(src, src_len)
        token, steps = tgt_in[:, :1], []
        for t in range(tgt_in.size(1)):
            logits, state = self.decoder(token, state, memory, mask)  # [B, 1, V]
            steps.append(logits)
            if t + 1 < tgt_in.size(1):
                gold = tgt_in[:, t + 1 : t + 2]
                use_gold = torch.rand(gold.shape, device=gold.device) < ratio
                token = torch.where(use_gold, gold, logits.argmax(-1))
        return torch.cat(steps, dim=1)


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The encoder-decoder for `cell` at `hidden_size`."""
    m = section["model"]
    encoder = Encoder(cell, meta["src_vocab_size"], m["embed_dim"], hidden_size, m["num_layers"],
                      m["bidirectional"], m["dropout"])
    memory_size = hidden_size * (2 if m["bidirectional"] else 1)
    decoder = Decoder(cell, meta["tgt_vocab_size"], m["embed_dim"], hidden_size, m["num_layers"], memory_size,
                      m["attention"] == "additive", m["dropout"], m["tied_output"])
    return Seq2Seq(encoder, decoder)
