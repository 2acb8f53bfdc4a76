"""Length-bucketed batches: complete, disjoint, deterministic, and with little padding."""

import torch

from recipes.kit.batching import bucket_batches, padding_waste, sorted_batches, trim


def lengths_fixture():
    return torch.randint(1, 60, (1000,), generator=torch.Generator().manual_seed(1))


def test_every_example_exactly_once_per_epoch():
    lengths = lengths_fixture()
    batches = bucket_batches(lengths, 32, torch.Generator().manual_seed(0))
    seen = torch.cat(batches).sort().values
    assert torch.equal(seen, torch.arange(1000))


def test_deterministic_for_a_seed_and_different_across_seeds():
    lengths = lengths_fixture()
    a = bucket_batches(lengths, 32, torch.Generator().manual_seed(3))
    b = bucket_batches(lengths, 32, torch.Generator().manual_seed(3))
    c = bucket_batches(lengths, 32, torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_bucketing_wastes_far_less_than_random_batches():
    lengths = lengths_fixture()
    bucketed = bucket_batches(lengths, 32, torch.Generator().manual_seed(0))
    shuffled = list(torch.randperm(1000, generator=torch.Generator().manual_seed(0)).split(32))
    assert padding_waste(lengths, bucketed) < 0.05 < padding_waste(lengths, shuffled)


def test_trim_cuts_to_the_longest_row():
    tokens = torch.arange(20).view(4, 5)
    lengths = torch.tensor([5, 2, 3, 1])
    rows, batch_lengths = trim(tokens, lengths, torch.tensor([1, 2]))
    assert rows.shape == (2, 3) and batch_lengths.tolist() == [2, 3]
    assert [len(b) for b in sorted_batches(lengths, 3)] == [3, 1]
