"""A deterministic corpus of prompts for tokenizer parity (hundreds of prompts, many scripts).

Kept as code, not as a text file, so that invisible characters (zero-width and
non-breaking spaces, NFD accents, ZWJ emoji) are written as escapes a reader can see.
"""

from __future__ import annotations

import unicodedata

PLAIN = [
    "a photograph of an astronaut riding a horse",
    "A painting of a fox in the snow, by Claude Monet",
    "a small red circle on the left",
    "a large blue square at the top",
    "a tiny green triangle in the center",
    "Portrait of a woman, highly detailed, 8k, trending on artstation",
    "an oil painting of a lighthouse at dusk, dramatic lighting",
    "isometric view of a cozy cabin in the woods, low poly",
    "the quick brown fox jumps over the lazy dog",
    "a cat wearing sunglasses sitting on a skateboard",
    "cinematic still of a dragon flying over a medieval city",
    "watercolor illustration of a hummingbird and hibiscus flowers",
    "a bowl of ramen, food photography, shallow depth of field",
    "cyberpunk street market at night, neon signs, rain",
    "a minimalist logo of a mountain, vector art",
    "an astronaut's helmet reflecting the earth",
    "it's a dog's life; we're the ones who'll know, they'd say, I'm sure you've seen",
    "unconditional",
    "stable diffusion",
    "explainer",
]

PUNCTUATION_AND_NUMBERS = [
    "hello, world!",
    "what?! no... yes!!!",
    "(masterpiece:1.2), [blurry], {best quality}",
    "a red circle -- on the left -- no, the right",
    "email@example.com and https://example.org/path?q=1&r=2",
    "3.14159 is pi; 2+2=4; 100% sure",
    "1999 vs 2024: 25 years, 1,000,000 pixels",
    "#hashtag @mention $100 ^caret ~tilde `backtick`",
    "\"double\" and 'single' quotes",
    "semi;colon:colon/slash\\backslash|pipe",
    "a_b-c.d,e",
    "x" * 5 + "!" * 7 + "?" * 3,
    "0123456789",
    "v1.5, v2.1, sdxl-1.0",
    "<|endoftext|> typed by hand",
    "<|startoftext|>a red circle<|endoftext|>",
    "<b>html</b> &amp; entities &lt;3",
]

MIXED_CASE_AND_SPACE = [
    "A SMALL RED CIRCLE ON THE LEFT",
    "a SmAlL rEd CiRcLe",
    "   leading spaces",
    "trailing spaces   ",
    "many     inner      spaces",
    "tabs\tand\ttabs",
    "new\nlines\n\nand\r\ncarriage returns",
    " \t\n mixed \x0b\x0c whitespace ",
    "ALLCAPS_WITH_UNDERSCORES",
    "CamelCaseWordsTogether",
]

ACCENTS = [
    "café crème brûlée",
    "naïve façade, Ångström, São Paulo",
    "Ærøskøbing, Straße, Œuvre",
    "Dvořák, Łódź, Kraków, Ñandú",
    "ÉCOLE ÉLÉMENTAIRE",
]

SCRIPTS = [
    "一只坐在窗台上的橘猫",
    "赤い丸が左にある",
    "東京の夜景、ネオン",
    "고양이가 의자에 앉아 있다",
    "красный круг слева",
    "БОЛЬШОЙ СИНИЙ КВАДРАТ",
    "دائرة حمراء صغيرة على اليسار",
    "שלום עולם",
    "ένας κόκκινος κύκλος",
    "एक लाल वृत्त",
    "วงกลมสีแดง",
    "mixed: red 红 красный أحمر 赤",
]

EMOJI = [
    "🔥",
    "a cat 🐱 and a dog 🐶",
    "astronaut 👩\u200d🚀 in space",
    "family 👨\u200d👩\u200d👧\u200d👦",
    "flags 🇫🇷🇯🇵🇺🇸 waving",
    "thumbs up 👍🏽 👍🏿",
    "keycap 1\ufe0f\u20e3 #\ufe0f\u20e3",
    "heart ❤️ vs ❤ vs 💖",
    "🌈🦄✨",
    "rainbow flag 🏳\ufe0f\u200d🌈",
]

INVISIBLE = [
    "zero\u200bwidth\u200bspace",
    "zero\u200cwidth\u200dnon-joiner",
    "non\u00a0breaking\u00a0space",
    "narrow\u202fno-break",
    "ideographic\u3000space",
    "\ufeffbyte order mark at start",
    "soft\u00adhyphen",
    "en\u2002em\u2003thin\u2009spaces",
    "word\u2060joiner",
    "line\u2028separator",
]

LONG_TEXT = (
    "an intricate and highly detailed digital painting of a sprawling futuristic city "
    "at sunset with flying cars, towering glass skyscrapers, lush hanging gardens, "
    "crowded market streets full of people, reflections on wet pavement, volumetric "
    "light rays through the clouds, by several famous concept artists, octane render, "
)


def length_prompts() -> list[str]:
    """Prompts of 0, 1, 2, 73..78 and 300+ body tokens ("a" is one token: "a</w>")."""
    counts = [0, 1, 2, 73, 74, 75, 76, 77, 78, 150]
    prompts = [" ".join(["a"] * n) for n in counts]
    prompts.append(LONG_TEXT * 6)  # well over 300 tokens
    prompts.append("red " * 320)
    return prompts


def corpus() -> list[str]:
    """Every prompt above, plus NFD, upper-case, spacing and punctuation variants of many."""
    base = PLAIN + PUNCTUATION_AND_NUMBERS + MIXED_CASE_AND_SPACE + ACCENTS + SCRIPTS + EMOJI
    base += INVISIBLE
    variants = []
    for k, p in enumerate(base):
        variants.append(unicodedata.normalize("NFD", p))
        variants.append(p.upper())
        variants.append(f"  {p}\t")
        variants.append(p.replace(" ", "  ") + ("!" if k % 2 else "..."))
        variants.append(p + ", " + base[(k * 7 + 3) % len(base)])
    prompts = base + variants + length_prompts()
    # dedupe, keep order
    return list(dict.fromkeys(prompts))
