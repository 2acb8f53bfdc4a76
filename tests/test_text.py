"""torchtext tokenizer and vocabulary, and the padded id tensors."""

from recipes.kit import text


def test_tokenizer_lowercases_and_splits_punctuation():
    assert text.tokenizer()("A gorgeous, MOVING film!") == ["a", "gorgeous", ",", "moving", "film", "!"]


def test_vocab_specials_min_freq_and_max_size():
    seqs = [["a", "b", "a"], ["a", "c", "b"], ["d"]]
    itos = text.build_vocab(seqs, min_freq=2)
    assert itos == ["<pad>", "<unk>", "a", "b"]
    assert text.build_vocab(seqs, min_freq=1, max_size=1) == ["<pad>", "<unk>", "a"]


def test_encode_pads_with_zero_maps_unknown_and_cuts():
    itos = ["<pad>", "<unk>", "a", "b"]
    tokens, lengths = text.encode([["a", "zzz"], ["b", "a", "b", "a"]], itos, max_len=3)
    assert lengths.tolist() == [2, 3]
    assert tokens.tolist() == [[2, 1, 0], [3, 2, 3]]


def test_encode_with_bos_eos_and_decode():
    itos = ["<pad>", "<unk>", "<bos>", "<eos>", "x", "y"]
    tokens, lengths = text.encode([["x", "y"]], itos, add_bos_eos=True)
    assert tokens.tolist() == [[2, 4, 5, 3]] and lengths.tolist() == [4]
    assert text.decode([2, 4, 5, 3, 4], itos) == ["x", "y"]
