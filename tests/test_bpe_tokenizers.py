"""Tokenizer loading: HF tokenizer.json, GPT-2 merges files, tiktoken rank files."""

from __future__ import annotations

import base64
import json

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from thresher.scorers.bpe_tokenizers import BYTE_CHARS, load_merges
from thresher.scorers.errors import UserError

TEXT = (
    "The quick brown fox jumps over the lazy dog. Über naïve café, 12345 and 67.\n"
    "def f(x):\n    return x * 2  # twice\nПривет мир, 你好世界\n"
) * 30


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        [TEXT],
        trainers.BpeTrainer(
            vocab_size=700,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.save(str(d / "tokenizer.json"))
    return d, tok


def write_tiktoken(tok_json, path):
    """Token bytes (base64) and rank = the HF id (ids follow merge order)."""
    to_byte = {c: b for b, c in BYTE_CHARS.items()}
    vocab = json.loads(tok_json.read_text())["model"]["vocab"]
    lines = [
        f"{base64.b64encode(bytes(to_byte[c] for c in s)).decode()} {i}"
        for s, i in sorted(vocab.items(), key=lambda kv: kv[1])
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hf_json_merges_and_pretokens(trained):
    d, tok = trained
    spec = load_merges(str(d / "tokenizer.json"))
    assert spec.kind == "hf-json" and spec.byte_level
    assert len(spec.merges) == tok.get_vocab_size() - 256 > 100
    expected = [p for p, _ in tok.pre_tokenizer.pre_tokenize_str("Hello  world's")]
    assert spec.pretokenize("Hello  world's") == expected == ["Hello", "Ġ", "Ġworld", "'s"]


def test_tiktoken_ranks_rebuild_the_merge_list(trained, tmp_path):
    d, _ = trained
    original = load_merges(str(d / "tokenizer.json"))
    path = write_tiktoken(d / "tokenizer.json", tmp_path / "mine.tiktoken")
    rebuilt = load_merges(str(path), pattern="gpt2")
    assert rebuilt.kind == "tiktoken"
    assert rebuilt.merges == original.merges


def test_tiktoken_pattern_from_known_name_and_tiktoken_agrees(trained, tmp_path):
    import tiktoken

    d, tok = trained
    path = write_tiktoken(d / "tokenizer.json", tmp_path / "cl100k_base.tiktoken")
    spec = load_merges(str(path))  # pattern inferred from the file name
    text = "Hello  world's 12345 and ПРИВЕТ"
    assert spec.pretokenize(text) == [
        "Hello",
        "Ġ",
        "Ġworld",
        "'s",
        "Ġ",
        "123",
        "45",
        "Ġand",
        "ĠÐŁÐłÐĺÐĴÐķÐ¢",
    ]
    # tiktoken itself, with the same ranks and the gpt2 regex, encodes like the HF tokenizer.
    from thresher.scorers.bpe_tokenizers import PATTERNS, read_tiktoken_ranks

    enc = tiktoken.Encoding(
        "t",
        pat_str=PATTERNS["gpt2"],
        mergeable_ranks=read_tiktoken_ranks(str(path)),
        special_tokens={},
    )
    sample = "The quick brown fox, 12345 café"
    assert enc.encode(sample) == tok.encode(sample).ids


@pytest.mark.parametrize("name", ["gpt2", "cl100k", "o200k"])
def test_patterns_split_like_the_regex_module(name, trained, tmp_path):
    """HF's Oniguruma split == the `regex` module tiktoken's patterns are written for."""
    regex = pytest.importorskip("regex")
    from thresher.scorers.bpe_tokenizers import PATTERNS, to_byte_chars

    d, _ = trained
    path = write_tiktoken(d / "tokenizer.json", tmp_path / "x.tiktoken")
    spec = load_merges(str(path), pattern=name)
    original = {"cl100k": PATTERNS["cl100k"].replace(r"\p{N}{1,3}", r"\p{N}{1,3}+")}
    want = [
        to_byte_chars(m.encode())
        for m in regex.findall(original.get(name, PATTERNS[name]), TEXT[:400] + " I'LL  x\n\n  ")
    ]
    assert spec.pretokenize(TEXT[:400] + " I'LL  x\n\n  ") == want


def test_unknown_tiktoken_name_needs_pattern(trained, tmp_path):
    d, _ = trained
    path = write_tiktoken(d / "tokenizer.json", tmp_path / "mystery.tiktoken")
    with pytest.raises(UserError, match="--pattern"):
        load_merges(str(path))


def test_merges_txt_matches_json(trained, tmp_path):
    d, _ = trained
    spec = load_merges(str(d / "tokenizer.json"))
    path = tmp_path / "merges.txt"
    path.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in spec.merges))
    other = load_merges(str(path))
    assert other.merges == spec.merges and other.byte_level
    assert other.pretokenize("Hello  world's") == spec.pretokenize("Hello  world's")


def test_unsupported_tokenizer_exits_1_with_one_line(cli, tmp_path):
    wp = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    wp.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "c.jsonl").write_text('{"text": "ab"}\n')
    code, _out, err = cli(
        "mixture",
        "infer",
        "--tokenizer",
        tmp_path / "tokenizer.json",
        "--category",
        f"c={tmp_path / 'c.jsonl'}",
        "--out",
        tmp_path / "o",
    )
    assert code == 1
    assert err.strip().count("\n") == 0
    assert "WordPiece model" in err and "BPE" in err


def test_category_glob_matching_nothing_exits_1(cli, trained, tmp_path):
    d, _ = trained
    code, _out, err = cli(
        "mixture",
        "infer",
        "--tokenizer",
        d / "tokenizer.json",
        "--category",
        f"web={tmp_path / 'nothing' / '*.jsonl'}",
        "--out",
        tmp_path / "o",
    )
    assert code == 1
    assert err.strip().count("\n") == 0 and "no input files match" in err
