"""Captioning models: an image encoder that sets the decoder's initial state (and, with attention,
offers its grid of regions), and the recurrent decoder.

Three encoders, picked by what `prepare` stored (meta["encoder_input"]):
- "strip": a small CNN over a digit strip [B, H, W] (UCI levels 0..16);
- "rgb": the same CNN over resized RGB images [B, 3, S, S] (bytes 0..255), trained end to end;
- "features": frozen backbone features [B, R, F] (a ResNet's 7 × 7 grid), projected.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recipes.cells import build_cell
from recipes.kit import text
from recipes.kit.attention import AdditiveAttention

RGB_GRID = 8  # an RGB image's conv map is pooled to RGB_GRID × RGB_GRID regions


class ImageCNN(nn.Module):
    """A small CNN over an image → a vector [B, out] (the decoder's initial state) and its grid of regions
    [B, R, 2 * channels] (what attention looks at).

    A strip [B, H, W] keeps its conv map (R = H/2 · W/2); an RGB image [B, 3, S, S] is pooled to a fixed
    RGB_GRID × RGB_GRID grid so that the projection stays small at any image size."""

    def __init__(self, in_channels: int, height: int, width: int, channels: int, out: int, levels: float,
                 grid: int | None = None) -> None:
        super().__init__()
        layers = [nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(),
                  nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        self.conv = nn.Sequential(*layers, *([nn.AdaptiveAvgPool2d(grid)] if grid else []))
        rows, cols = (grid, grid) if grid else (height // 2, width // 2)
        self.proj = nn.Linear(2 * channels * rows * cols, out)
        self.levels = levels
        self.grid_size = 2 * channels

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = images.float() / self.levels
        maps = self.conv(x.unsqueeze(1) if x.dim() == 3 else x)  # [B, 2C, h, w]
        return self.proj(maps.flatten(1)), maps.flatten(2).transpose(1, 2)  # [B, out], [B, h*w, 2C]


class FeatureEncoder(nn.Module):
    """Frozen backbone features [B, R, F] → their mean over regions, projected [B, out], and the grid itself."""

    def __init__(self, features: int, out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(features, out)
        self.grid_size = features

    def forward(self, grid: Tensor) -> tuple[Tensor, Tensor]:
        grid = grid.float()  # stored as float16
        return self.proj(grid.mean(1)), grid  # the mean is the ResNet's own average pooling


class Captioner(nn.Module):
    """Image encoder → the decoder's initial state → cell → (attention over regions) → vocabulary.

    The image enters as the initial state (the one-to-many picture); for an LSTM it sets both h0 and c0,
    as in Show, Attend and Tell. With attention, every word also reads a weighted mix of the image's
    regions, chosen by the decoder's output at that word (Xu et al. 2015).
    """

    def __init__(self, encoder_factory, cell: str, vocab: int, embed: int, hidden: int, layers: int,
                 dropout: float, attention: bool = False) -> None:
        super().__init__()
        self.rnn = build_cell(cell, embed, hidden, layers, False, dropout)
        self.image_encoder = encoder_factory(self.rnn.state_tensors * layers * hidden)
        self.embed = nn.Embedding(vocab, embed, padding_idx=text.PAD_ID)
        self.drop = nn.Dropout(dropout)
        grid = self.image_encoder.grid_size
        self.out = nn.Linear(hidden + (grid if attention else 0), vocab)
        self.attention = AdditiveAttention(hidden, grid, hidden) if attention else None

    def encode(self, inputs: Tensor):
        """(memory, mask, state): the regions [B, R, K] and an all-true mask [B, R] when attending (else None),
        and the image as the initial state [L, B, H]."""
        vector, grid = self.image_encoder(inputs)  # no squashing of the vector: tanh here left LSTMs stuck
        state = self.rnn.state_from_vector(vector)
        if self.attention is None:
            return None, None, state
        return grid, torch.ones(grid.shape[:2], dtype=torch.bool, device=grid.device), state

    def decoder(self, tokens: Tensor, state, memory=None, mask=None, lengths: Tensor | None = None):
        """tokens [B, T] → logits [B, T, V], new state."""
        out, state = self.rnn(self.drop(self.embed(tokens)), lengths, state)  # [B, T, H]
        if self.attention is not None:
            out = torch.cat([out, self.attention(out, memory, mask)], dim=-1)  # [B, T, H + K]
        return self.out(self.drop(out)), state

    def forward(self, inputs: Tensor, tgt_in: Tensor, tgt_len: Tensor) -> Tensor:
        """Teacher-forced logits [B, T, V]."""
        memory, mask, state = self.encode(inputs)
        logits, _ = self.decoder(tgt_in, state, memory, mask, lengths=tgt_len)
        return logits


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The captioner for `cell` at `hidden_size`, with the encoder for what `prepare` stored."""
    m, shape, kind = section["model"], meta["input_shape"], meta.get("encoder_input", "strip")

    def image_encoder(out: int) -> nn.Module:
        if kind == "features":
            return FeatureEncoder(shape[-1], out)
        if kind == "rgb":
            return ImageCNN(shape[0], shape[1], shape[2], m["channels"], out, levels=255.0, grid=RGB_GRID)
        return ImageCNN(1, shape[0], shape[1], m["channels"], out, levels=16.0)

    return Captioner(image_encoder, cell, meta["vocab_size"], m["embed_dim"], hidden_size, m["num_layers"],
                     m["dropout"], m["attention"] == "additive")
