"""The word-by-word baseline every translation model must beat: each source token becomes the target
token it is most strongly aligned with in training, unknown tokens are copied through.

"Aligned" is the Dice coefficient of sentence co-occurrence, 2·c(s, t) / (c(s) + c(t)), counted once
per training pair: simple, deterministic and good enough to translate frequent function words and
names; it cannot reorder, inflect or drop words, which is what the recurrent models are for.
"""

from __future__ import annotations

from collections import Counter


def align_words(pairs: list[tuple[list[str], list[str]]]) -> dict[str, str]:
    """Source token → the target token with the highest Dice coefficient (ties: the more frequent
    target token, then the alphabetically first)."""
    source_count, target_count, both = Counter(), Counter(), Counter()
    for src, tgt in pairs:
        src_set, tgt_set = set(src), set(tgt)
        source_count.update(src_set)
        target_count.update(tgt_set)
        both.update((s, t) for s in src_set for t in tgt_set)
    best: dict[str, tuple[float, int, str]] = {}
    for (s, t), count in both.items():
        key = (2 * count / (source_count[s] + target_count[t]), target_count[t], t)
        if s not in best or key[:2] > best[s][:2] or (key[:2] == best[s][:2] and t < best[s][2]):
            best[s] = key
    return {s: key[2] for s, key in best.items()}


def translate_word_by_word(sentence: list[str], table: dict[str, str]) -> list[str]:
    """One output token per source token: its aligned word, or itself when training never saw it."""
    return [table.get(token, token) for token in sentence]
