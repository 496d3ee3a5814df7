"""Golden CLIP token ids for the Rust tokenizer's tests, from the reference BPE.

The reference is OpenAI's ``simple_tokenizer.py`` with ``bpe_simple_vocab_16e6.txt.gz`` as shipped in the PyPI
package ``clip-anytorch`` (installed with ``--no-deps``; only its tokenizer module is loaded, by file path, so
its torchvision import is never executed). Padding and truncation follow ``clip.tokenize``:
``[49406] + bpe(text) + [49407]`` zero-padded to 77; longer sequences are an error, or with ``truncate=True``
cut to 77 with the last id forced to 49407.

Usage: python -m disco_export.tokens --out tests/golden/clip_tokens.json
"""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

CONTEXT_LENGTH = 77
SOT, EOT = 49406, 49407

PROMPTS = [
    "A beautiful painting of a singular lighthouse, shining its light across a tumultuous sea of blood by greg rutkowski and thomas kinkade, Trending on artstation.",
    "yellow color scheme",
    "",
    " ",
    "a",
    "A",
    "Hello, World!",
    "hello world",
    "It's a dog's life, isn't it? We'll see; they'd've known.",
    "I'M SHOUTING AND YOU'RE NOT",
    "don't STOP believin'",
    "1234567890",
    "3.14159 and 2,718 and 1e-10",
    "year 2022: 250 steps, 10 skip",
    "price $42.99 (50% off!!!)",
    "email@example.com #hashtag @mention",
    "snake_case_words and kebab-case-words",
    "tabs\tand\nnewlines\r\nand   many    spaces",
    "   leading and trailing whitespace   ",
    "Tom &amp; Jerry",
    "&lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot;",
    "double escaped &amp;amp; ampersand",
    "caf&eacute; na&iuml;ve &#233; &#x263A;",
    "Café crème brûlée à la mode",
    "naïve façade coöperate",
    "Straße München Zürich",
    "Ünïcödé Äccënts ÀÉÎÕÜ",
    "日本語のテキスト、東京タワー",
    "中文提示：山水画",
    "한국어 프롬프트",
    "Русский текст: картина маслом",
    "Ελληνικά γράμματα αβγ",
    "עברית וערבית عربى",
    "emoji 🎨🖌️🌅 sunset 🌊",
    "👩‍👩‍👧‍👦 family zwj sequence",
    "mojibake: Ã©tÃ© â€œquotesâ€\x9d",
    "“curly quotes” and ‘single’ — em dash – en dash …",
    "math ∑∫√∞ ≠ ≤ ≥ ± × ÷",
    "arrows → ← ↑ ↓ ⇒ and symbols © ® ™ § ¶",
    "full-width ＡＢＣ１２３",
    "ligature ﬁ ﬂ and superscript x² y³",
    "<|startoftext|> literal special tokens <|endoftext|>",
    "a painting by Vincent van Gogh:2",
    "trending on artstation:-1",
    "cyberpunk city at night, neon lights, rain, 8k, octane render, unreal engine 5",
    "matte painting of a castle in the clouds | fantasy | highly detailed",
    "!!!???...;;;:::",
    "(((emphasis))) [[brackets]] {{braces}}",
    "a/b\\c|d~e^f`g",
    "mixedCASEcamelCase and ALLCAPS and lowercase",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 100,
    "the " * 74 + "end",
    "the " * 75 + "end",
    "the " * 76 + "end",
    ("A highly detailed matte painting of an ancient overgrown temple in a misty jungle, volumetric light, "
     "god rays, by Greg Rutkowski, Thomas Kinkade, Studio Ghibli and James Gurney, trending on ArtStation, "
     "4k, HDR, award winning, masterpiece, intricate, elegant, sharp focus, illustration, concept art"),
    " ".join(f"word{i}" for i in range(60)),
    "🎨" * 40,
]


def reference_tokenizer():
    """OpenAI's SimpleTokenizer from the installed ``clip`` package, loaded without ``clip/__init__.py``."""
    spec = importlib.util.find_spec("clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the reference tokenizer needs the PyPI package clip-anytorch (pip install --no-deps)")
    path = Path(list(spec.submodule_search_locations)[0]) / "simple_tokenizer.py"
    mod_spec = importlib.util.spec_from_file_location("_clip_simple_tokenizer", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module.SimpleTokenizer()


def tokenize(tok, text, truncate=False):
    """clip.tokenize for one text: list of 77 ids, or None when too long and not truncating."""
    ids = [SOT] + tok.encode(text) + [EOT]
    if len(ids) > CONTEXT_LENGTH:
        if not truncate:
            return None
        ids = ids[:CONTEXT_LENGTH]
        ids[-1] = EOT
    return ids + [0] * (CONTEXT_LENGTH - len(ids))


def golden(prompts=PROMPTS):
    """Records ``{"text", "ids"}``, or ``{"text", "ids": None, "too_long": True, "truncated_ids"}``."""
    tok = reference_tokenizer()
    out = []
    for text in prompts:
        ids = tokenize(tok, text)
        if ids is None:
            out.append({"text": text, "ids": None, "too_long": True, "truncated_ids": tokenize(tok, text, True)})
        else:
            out.append({"text": text, "ids": ids})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m disco_export.tokens", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = p.parse_args(argv)
    records = golden()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(records, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_long = sum(1 for r in records if r["ids"] is None)
    print(f"wrote {len(records)} prompts ({n_long} over 77 tokens) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
