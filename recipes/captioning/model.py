"""Captioning models: an image encoder that sets the decoder's initial state, and the recurrent decoder.
"""

from __future__ import annotations

from torch import Tensor, nn

from recipes.cells import build_cell
from recipes.kit import text


class StripEncoder(nn.Module):
    """A small CNN over a digit strip [B, 8, W] → a vector [B, out]."""

    def __init__(self, height: int, width: int, channels: int, out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.proj = nn.Linear(2 * channels * (height // 2) * (width // 2), out)

    def forward(self, images: Tensor) -> Tensor:
        x = images.float().unsqueeze(1) / 16.0  # [B, 1, 8, W], UCI pixels are 0..16
        return self.proj(self.conv(x).flatten(1))


class Captioner(nn.Module):
    """Image encoder → the decoder's initial state → cell → vocabulary.

    The image enters once, as the initial state (the one-to-many picture); for
    an LSTM it sets both h0 and c0, as in Show, Attend and Tell.
    """

    def __init__(self, encoder_factory, cell: str, vocab: int, embed: int, hidden: int, layers: int,
                 dropout: float) -> None:
        super().__init__()
        self.rnn = build_cell(cell, embed, hidden, layers, False, dropout)
        self.image_encoder = encoder_factory(self.rnn.state_tensors * layers * hidden)
        self.embed = nn.Embedding(vocab, embed, padding_idx=text.PAD_ID)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def encode(self, inputs: Tensor):
        """(memory, mask, state): no memory, the image as the initial state [L, B, H]."""
        vector = self.image_encoder(inputs)  # [B, state_tensors * L * H]; no squashing: tanh here left LSTMs stuck
        return None, None, self.rnn.state_from_vector(vector)

    def decoder(self, tokens: Tensor, state, memory=None, mask=None, lengths: Tensor | None = None):
        """tokens [B, T] → logits [B, T, V], new state."""
        out, state = self.rnn(self.drop(self.embed(tokens)), lengths, state)
        return self.out(self.drop(out)), state

    def forward(self, inputs: Tensor, tgt_in: Tensor, tgt_len: Tensor) -> Tensor:
        """Teacher-forced logits [B, T, V]."""
        _, _, state = self.encode(inputs)
        logits, _ = self.decoder(tgt_in, state, lengths=tgt_len)
        return logits


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The captioner for `cell` at `hidden_size`: a CNN for strips, a linear projection for features."""
    m, shape = section["model"], meta["input_shape"]

    def image_encoder(out: int) -> nn.Module:
        return StripEncoder(shape[0], shape[1], m["channels"], out) if len(shape) == 2 else nn.Linear(shape[0], out)

    return Captioner(image_encoder, cell, meta["vocab_size"], m["embed_dim"], hidden_size, m["num_layers"],
                     m["dropout"])
