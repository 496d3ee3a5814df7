"""The golden CLIP token file the Rust tokenizer tests read."""

import json
from pathlib import Path

import pytest

from disco_export import tokens

GOLDEN = Path(__file__).parent / "golden" / "clip_tokens.json"


@pytest.fixture(scope="module")
def records():
    with open(GOLDEN, encoding="utf-8") as f:
        return json.load(f)


def test_golden_file_is_what_the_reference_tokenizer_gives(records):
    assert records == tokens.golden()


def test_golden_file_shape(records):
    assert len(records) >= 50
    texts = [r["text"] for r in records]
    assert len(set(texts)) == len(texts)
    assert any("&amp;" in t for t in texts) and any(ord(c) > 0x3000 for t in texts for c in t)
    long = [r for r in records if r["ids"] is None]
    assert len(long) >= 2
    for r in records:
        ids = r["ids"] if r["ids"] is not None else r["truncated_ids"]
        assert len(ids) == 77 and all(isinstance(i, int) for i in ids)
        assert ids[0] == 49406
        end = max(i for i, v in enumerate(ids) if v != 0)  # the EOT; zeros after it
        assert ids[end] == 49407
        # Ids in between are ordinary tokens, except that the reference BPE maps the literal strings
        # "<|startoftext|>" and "<|endoftext|>" inside a prompt to the special ids too.
        inner = ids[1:end]
        assert all(0 < i < 49406 for i in inner) or "<|" in r["text"]
        assert all(0 < i <= 49407 for i in inner)
    for r in long:
        assert r["too_long"] is True and r["truncated_ids"][-1] == 49407


@pytest.mark.parametrize("text,ids", [
    ("a diagram", [49406, 320, 22697, 49407]),  # the examples of OpenAI's CLIP README
    ("a dog", [49406, 320, 1929, 49407]),
    ("a cat", [49406, 320, 2368, 49407]),
    ("", [49406, 49407]),
])
def test_known_token_ids(text, ids):
    tok = tokens.reference_tokenizer()
    assert tokens.tokenize(tok, text) == ids + [0] * (77 - len(ids))


def test_length_limit_boundary():
    tok = tokens.reference_tokenizer()
    assert tokens.tokenize(tok, "the " * 75) is not None  # 75 + SOT + EOT = 77 fits
    assert tokens.tokenize(tok, "the " * 76) is None
    assert tokens.tokenize(tok, "the " * 76, truncate=True) == [49406] + [518] * 75 + [49407]
