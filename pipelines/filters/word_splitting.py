"""Word and sentence splitting shared by the prose filters, fast and identical to datatrove's.

datatrove splits English words with spaCy's blank English tokenizer (about 5 ms for a 6.7 kB page
here) and counts C4 sentences with spaCy's sentencizer, line by line. spaCy tokenizes every chunk
between whitespace on its own (special-case matches that would span a space are discarded), so the
words of a text are the concatenation of its chunks' tokens. We therefore tokenize each *distinct*
chunk once per process, in one spaCy call per batch of new chunks, and keep the result: a page then
costs one dict lookup per chunk. The commonest new chunks never reach spaCy: letters with opening
brackets/quotes before and closing marks or '.' after ("(word),", "„Wort“") split as spaCy's affix
rules split them, unless a special case ("dont", "e.g.", "):") could apply (`_fast_tokens`; tests
compare it with spaCy on every distinct chunk of the real pages).

Tokens get small integer ids in a process-wide `TokenVocab` that also holds the per-token facts the
filters need (length, has a letter, is punctuation...), so filters work on numpy id arrays.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np

# datatrove.utils.text.PUNCTUATION and TERMINAL_PUNCTUATION, copied so that corpusmill does not
# need datatrove at run time; tests check both are equal to datatrove's.
PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    map(chr, (x for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b))))

# spaCy's Sentencizer.default_punct_chars.
SENTENCE_PUNCT_CHARS = frozenset(
    "!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？"
    "𐩖𐩗𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑩂𑩃𑪛𑪜𑱁𑱂𖩮𖩯𖫵𖬷𖬸𖭄𛲟𝪈｡。")

# Whitespace that makes spaCy emit a whitespace token: a run of 2+ spaces or any non-space blank.
_ODD_WHITESPACE = re.compile(r"[^\S ]| {2,}")
_RUNS = re.compile(r"\S+|\s+")
_MAX_VOCAB = 2_000_000  # reset the process caches beyond this many distinct tokens (memory bound)
# Single characters spaCy's English affix rules split off a word whatever their neighbours (from
# LIST_PUNCT and LIST_QUOTES; none starts a longer affix or a special case on its own).
_ONE_CHAR_PREFIXES = frozenset('([{"“„«')
_ONE_CHAR_SUFFIXES = frozenset(',;:!?)]}"”“»')


@lru_cache(maxsize=1)
def terminal_punctuation() -> frozenset[str]:
    """datatrove's TERMINAL_PUNCTUATION (FineWeb's line-end characters)."""
    from pipelines.filters._terminal_punctuation import TERMINAL_PUNCTUATION

    return TERMINAL_PUNCTUATION


@lru_cache(maxsize=1)
def punctuation_set() -> frozenset[str]:
    return frozenset(PUNCTUATION) | terminal_punctuation()


@lru_cache(maxsize=1)
def _PUNCTUATION_CHARS() -> str:
    return "".join(sorted(punctuation_set()))


def _is_spacy_punct(text: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in text)


class TokenVocab:
    """Token string -> id, plus per-id facts as growable numpy arrays."""

    FLAG_NON_SYMBOL = 1  # has a char outside datatrove's PUNCTUATION_SET (Gopher "word")
    FLAG_ALPHA = 2  # has a letter
    FLAG_PUNCT = 4  # spaCy IS_PUNCT
    FLAG_SENT_PUNCT = 8  # in the sentencizer's punctuation list
    FLAG_SPACE = 16  # whitespace token (spaCy keeps it, datatrove's word lists drop it)

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.strings: list[str] = []
        self._lengths = np.zeros(1024, dtype=np.int64)
        self._flags = np.zeros(1024, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.strings)

    def add(self, token: str) -> int:
        found = self.ids.get(token)
        if found is not None:
            return found
        index = len(self.strings)
        if index >= len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
            self._flags = np.concatenate([self._flags, np.zeros_like(self._flags)])
        if token.isalpha():  # no letter is punctuation (tests check the lists)
            flags = self.FLAG_NON_SYMBOL | self.FLAG_ALPHA
        elif token.isspace():
            flags = self.FLAG_SPACE
        else:
            flags = 0
            if token.strip(_PUNCTUATION_CHARS()):  # something left: not only symbols
                flags |= self.FLAG_NON_SYMBOL
            if any(ch.isalpha() for ch in token):
                flags |= self.FLAG_ALPHA
            if _is_spacy_punct(token):
                flags |= self.FLAG_PUNCT
            if token in SENTENCE_PUNCT_CHARS:
                flags |= self.FLAG_SENT_PUNCT
        self.ids[token] = index
        self.strings.append(token)
        self._lengths[index] = len(token)
        self._flags[index] = flags
        return index

    @property
    def lengths(self) -> np.ndarray:
        return self._lengths

    @property
    def flags(self) -> np.ndarray:
        return self._flags


class WordSplitter:
    """Splits texts into token ids; one instance per process and tokenizer kind (see `splitter`)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.vocab = TokenVocab()
        self._chunks: dict[str, tuple[int, ...]] = {}
        self._sentence_summaries: dict[str, tuple[int, int, int, int, int]] = {}
        self._tokenizer = None
        self._special: frozenset[str] = frozenset()
        if kind == "spacy_en":
            try:
                import spacy
            except ImportError:
                raise ImportError(
                    "filter.word_tokenizer 'spacy_en' needs spaCy (datatrove's English word splitting): "
                    "`pip install spacy` (no model download is needed), or set "
                    "`filter: {defaults: {word_tokenizer: whitespace}}` in the recipe") from None
            self._spacy = spacy
            self._new_tokenizer()
        elif kind != "whitespace":
            raise ValueError(f"unknown word tokenizer {kind!r}; use 'spacy_en' or 'whitespace'")

    def _new_tokenizer(self) -> None:
        nlp = self._spacy.blank("en")
        # Lexeme attributes (shape, norm, like_num...) are never read here; not computing them
        # makes spaCy's first sight of a token a third cheaper. Tokenization does not use them.
        nlp.vocab.lex_attr_getters = {}
        self._tokenizer = nlp.tokenizer
        self._special = frozenset(self._tokenizer.rules)
        from spacy.lang.char_classes import ALPHA_LOWER, ALPHA_UPPER

        self._lower = re.compile(f"[{ALPHA_LOWER}]")
        self._upper = re.compile(f"[{ALPHA_UPPER}]")

    def _fast_tokens(self, chunk: str) -> tuple[str, ...] | None:
        """spaCy's tokens for the commonest chunk shapes without spaCy; None: ask spaCy.

        Handles `prefix* letters suffix*` where the prefixes are opening brackets/quotes and the
        suffixes closing marks or '.', the cases spaCy's English affix rules peel off one
        character at a time with nothing else matching: a '.' is a suffix after a lower-case
        letter, two upper-case letters or another of those marks (spaCy's lookbehind rule).
        Anything where a special case ("don't", "e.g.", "Dr.") could apply goes to spaCy.
        """
        special = self._special
        if chunk in special:
            return None
        if chunk.isalpha():
            return (chunk,)
        start, end = 0, len(chunk)
        while start < end and chunk[start] in _ONE_CHAR_PREFIXES:
            start += 1
        while end > start and (chunk[end - 1] in _ONE_CHAR_SUFFIXES or chunk[end - 1] == "."):
            end -= 1
        core = chunk[start:end]
        if not core.isalpha():
            return None
        for index in range(end, len(chunk)):  # each '.' must be splittable where it stands
            if chunk[index] == "." and not (
                    (index - 1 >= start and chunk[index - 1] in _ONE_CHAR_SUFFIXES)
                    or (index - 1 == end - 1 and self._lower.match(chunk[index - 1]))
                    or (index - 1 == end - 1 and index - 2 >= start and self._upper.match(chunk[index - 1])
                        and self._upper.match(chunk[index - 2]))):
                return None
        # A special case stops spaCy's peeling, and its matcher merges tokens that spell one
        # (emoticons: ")" + ":" -> "):"): any run of tokens spelling a special case goes to spaCy.
        tokens = (*chunk[:start], core, *chunk[end:])
        for left in range(len(tokens)):
            joined = ""
            for right in range(left, len(tokens)):
                joined += tokens[right]
                if joined in special:
                    return None
        return tokens

    def _learn(self, chunks: list[str]) -> None:
        """Tokenize and cache chunks not seen yet (one spaCy call for all of them)."""
        add = self.vocab.add
        slow = []
        for chunk in dict.fromkeys(chunks):
            if chunk in self._chunks:
                continue
            if self._tokenizer is None:
                self._chunks[chunk] = (add(chunk),)
                continue
            fast = self._fast_tokens(chunk)
            if fast is None:
                slow.append(chunk)
            else:
                self._chunks[chunk] = tuple(map(add, fast))
        if not slow:
            return
        # Chunks joined by single spaces: spaCy gives each chunk the same tokens as alone, and a
        # token followed by a space is the last of its chunk.
        doc = self._tokenizer(" ".join(slow))
        current: list[int] = []
        index = 0
        for token in doc:
            current.append(add(token.text))
            if token.whitespace_:
                self._chunks[slow[index]] = tuple(current)
                current = []
                index += 1
        self._chunks[slow[index]] = tuple(current)

    def trim(self) -> None:
        """Bound memory: forget all tokens past _MAX_VOCAB. Call only between documents (ids
        handed out before a trim are meaningless after it)."""
        if len(self._chunks) > _MAX_VOCAB or len(self.vocab) > _MAX_VOCAB:
            self._chunks.clear()
            self._sentence_summaries.clear()
            self.vocab = TokenVocab()
            if self._tokenizer is not None:
                self._new_tokenizer()  # spaCy's own vocabulary grows too

    def chunk_ids(self, chunks: list[str]) -> list[int]:
        """Token ids of whitespace-free chunks, concatenated."""
        cache = self._chunks
        out: list[int] = []
        extend = out.extend
        try:
            for chunk in chunks:
                extend(cache[chunk])
        except KeyError:
            self._learn(chunks)
            cache = self._chunks
            out = []
            extend = out.extend
            for chunk in chunks:
                extend(cache[chunk])
        return out

    def word_ids(self, text: str) -> list[int]:
        """datatrove's `split_into_words(text)` as ids (whitespace tokens dropped)."""
        return self.chunk_ids(text.split())

    def words(self, text: str) -> list[str]:
        strings = self.vocab.strings
        return [strings[i] for i in self.word_ids(text)]

    def sentences_and_words(self, line: str) -> tuple[int, int]:
        """(datatrove's `len(split_into_sentences(line))`, its number of words) for one line.

        spaCy's sentencizer starts a sentence at a token that is neither punctuation nor a
        sentence-final mark when a sentence-final mark came since the last such token (the
        "seen period" state). Runs of 2+ spaces or other blanks are whitespace tokens in spaCy (a
        single space belongs to the previous token); they can start a sentence, are not words.
        Each chunk's effect on (state -> new sentences, state) is computed once and cached.
        """
        if _ODD_WHITESPACE.search(line):
            runs = []
            for run in _RUNS.findall(line):
                if run[0].isspace():
                    run = run[1:] if run[0] == " " else run
                    if run:
                        runs.append(run)  # whitespace token: its summary says so
                else:
                    runs.append(run)
        else:
            runs = line.split()
        if not runs:
            return 1, 0  # datatrove splits an empty span list into one part
        summaries = self._sentence_summaries
        try:
            found = [summaries[run] for run in runs]
        except KeyError:
            for run in runs:
                if run not in summaries:
                    summaries[run] = self._sentence_summary(run)
            found = [summaries[run] for run in runs]
        sentences = 1
        seen_period = 0
        num_words = 0
        for summary in found:
            # summary: (new sentences, state after) for state 0 and for state 1, then words
            sentences += summary[2 * seen_period]
            seen_period = summary[2 * seen_period + 1]
            num_words += summary[4]
        return sentences, num_words

    def _sentence_summary(self, run: str) -> tuple[int, int, int, int, int]:
        if run.isspace():
            flags = [int(self.vocab.flags[self.vocab.add(run)])]
            num_words = 0
        else:
            ids = self.chunk_ids([run])
            flags = self.vocab.flags[ids].tolist()
            num_words = len(ids)
        sent_punct = TokenVocab.FLAG_SENT_PUNCT
        punct_or_sent = TokenVocab.FLAG_PUNCT | TokenVocab.FLAG_SENT_PUNCT
        out = []
        for seen_period in (0, 1):
            sentences = 0
            for token_flags in flags:
                if seen_period and not token_flags & punct_or_sent:
                    sentences += 1
                    seen_period = 0
                elif token_flags & sent_punct:
                    seen_period = 1
            out += [sentences, seen_period]
        return (*out, num_words)


_SPLITTERS: dict[str, WordSplitter] = {}


def splitter(kind: str) -> WordSplitter:
    """The process-wide splitter of a kind (its caches are reused across batches)."""
    found = _SPLITTERS.get(kind)
    if found is None:
        found = _SPLITTERS[kind] = WordSplitter(kind)
    return found
