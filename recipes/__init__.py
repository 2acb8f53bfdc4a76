"""RNN Recipes: one module per RNN topology, plus the blocks they share.

A recipe module provides:
- `SCHEMA`: its params.yaml section, as `recipes.params.Field`s;
- `download(section, raw_dir, seed)`: fetch (or generate, with `seed`) its
  dataset into its raw format and write SOURCE.json;
- `prepare(section, raw_dir, out_dir, seed)`: split and encode once into
  tensors (data.pt, vocab.json, meta.json with sizes and a baseline);
- `build_model(section, meta, cell, hidden_size)`: its nn.Module;
- `make_task(section, data_dir, device)`: a `recipes.engine.Task` with
  `metric`, `train_batches`, `step`, `evaluate` and `samples(model, out_dir)`.
"""

from recipes import captioning, pos, sentiment, translation

RECIPES = {
    "sentiment": sentiment,
    "pos": pos,
    "translation": translation,
    "captioning": captioning,
}
