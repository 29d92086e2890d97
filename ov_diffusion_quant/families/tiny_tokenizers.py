"""Tokenizers for the tiny models, built offline with the same classes as the real ones.

The vocabularies come from a small caption-word corpus kept here, so common
caption words are single tokens (as with the real tokenizers) and nothing is
downloaded.
"""

from __future__ import annotations

CAPTION_WORDS = """
a an the of in on at with and by for from to under over near into through between behind
photo photograph picture painting drawing sketch illustration render portrait landscape close-up
wide shot view scene detailed realistic cinematic lighting light dark bright soft warm cold golden hour
sunset sunrise night day morning evening sky cloud clouds rain snow fog storm sun moon stars
cat cats dog dogs bird birds horse fish animal animals cute happy small big large little old young
man woman men women child children person people girl boy family friends crowd
city street road building buildings house houses room kitchen window door table chair bed
car cars bus train bike boat ship plane
tree trees forest flower flowers garden grass field mountain mountains river lake sea ocean beach
desert island water coral reef jellyfish underwater wave waves
red blue green yellow white black orange purple pink brown gray colorful
food coffee cup plate bread fruit apple cake
oil watercolor pixel art 3d digital style vintage modern ancient futuristic
standing sitting walking running playing flying swimming looking watching holding wearing
hat bow tie dress shirt
astronaut mars space planet robot castle bridge tower
high res quality masterpiece best 8k 35mm shallow depth field ultra dynamic angle extremely
cactus face sahara new york poodle reflections wet pavement rainy
""".split()

SPECIAL_CLIP = ("<|startoftext|>", "<|endoftext|>")


def build_clip_tokenizer(max_length: int = 77):
    """A byte-level BPE CLIPTokenizer whose merges spell out the corpus words.

    The merges are written out directly (left to right through each word) rather than
    trained: the tokenizers trainer breaks frequency ties differently from run to run.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in [*SPECIAL_CLIP, *alphabet, *(symbol + "</w>" for symbol in alphabet)]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in dict.fromkeys(w.lower() for w in CAPTION_WORDS):
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        current = symbols[0]
        for symbol in symbols[1:]:
            pair = (current, symbol)
            current += symbol
            if pair not in merges:
                merges.append(pair)
            vocab.setdefault(current, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def build_t5_tokenizer(max_length: int = 120):
    """A Unigram T5Tokenizer: the corpus words as whole pieces, characters as fallback."""
    import string

    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    seen = {p for p, _ in pieces}
    for word in CAPTION_WORDS:
        for piece in ("\u2581" + word, word):
            if piece not in seen:
                pieces.append((piece, -3.0 - 0.01 * len(pieces) / len(CAPTION_WORDS)))
                seen.add(piece)
    for char in string.ascii_letters + string.digits + string.punctuation:
        for piece in (char, "\u2581" + char):
            if piece not in seen:
                pieces.append((piece, -8.0))
                seen.add(piece)
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)
