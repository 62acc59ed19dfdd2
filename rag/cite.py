"""Citations you can trust. Parses every marker form the model writes ([1], [1][2], [1, 2],
【1】, (1)), drops markers outside the provided set, renumbers the rest in order of first
use (1, 2, 3 ...) while streaming, checks each cited sentence against its chunks, gives
uncited factual sentences their best-supporting chunk or flags them (support.py scores how
well a chunk backs a sentence); assemble.py attaches the sources an article chunk itself
cites (the provenance chain)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from .attribution import uncredited
from .support import key_terms, name_numbers, name_word, names_in, names_lacking, rank_support, support, support_scores
from .text import HAN_CHARS, MARKER, sentence_spans

# Text that may still grow into a marker: hold it back while streaming.
_PARTIAL = re.compile(r"(?:\[|【|\(|（)[\d\s,，、]*$")


def _numbers(m: re.Match) -> list[int]:
    """The numbers inside one marker match ("[1, 2]" -> [1, 2])."""
    group = next(g for g in m.groups() if g is not None)
    return [int(x) for x in re.split(r"[,，、\s]+", group) if x]


def parse_markers(text: str) -> list[int]:
    """All cited numbers in order of appearance (repeats kept)."""
    return [n for m in MARKER.finditer(text) for n in _numbers(m)]


class CitationStream:
    """Rewrites markers as text streams in: valid model numbers become display numbers
    in order of first use, invalid ones vanish. `order` maps display n -> model n."""

    def __init__(self, valid: set[int]):
        self.valid = valid
        self.display: dict[int, int] = {}
        self.pending = ""

    @property
    def order(self) -> list[int]:
        return sorted(self.display, key=self.display.get)

    def _rewrite(self, m: re.Match) -> str:
        numbers = _numbers(m)
        if m.group(0)[0] in "(（" and not all(n in self.valid for n in numbers):
            return m.group(0)      # "(2026)" or "(4)" in prose: not a citation
        out = []
        for n in numbers:
            if n not in self.valid:
                continue
            if n not in self.display:
                self.display[n] = len(self.display) + 1
            out.append(f"[{self.display[n]}]")
        return "".join(dict.fromkeys(out))

    def feed(self, delta: str) -> str:
        text = self.pending + delta
        partial = _PARTIAL.search(text)
        if partial and len(text) - partial.start() < 24:
            self.pending, text = text[partial.start():], text[:partial.start()]
        else:
            self.pending = ""
        return MARKER.sub(self._rewrite, text)

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return MARKER.sub(self._rewrite, text)


# ----------------------------------------------------------------- support checks

def split_sentences(text: str) -> list[str]:
    return [text[a:b].strip() for a, b in sentence_spans(text)]


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def marker_groups(at_least: int) -> str:
    """A pattern for `at_least` groups of [n] markers with only blanks between them ("[9][40] [9][41]
    [9][42]"): a run of citations that cites no sentence (shaping.py stops a reply that loops on them)."""
    return rf"(?:(?:\[\d+\])+\s+){{{at_least},}}(?:\[\d+\])*"


# Three or more marker groups with only blanks between them, and a marker cut off at the end.
_MARKER_RUN = re.compile(marker_groups(3))
_CUT_MARKER = re.compile(r"\s*\[\d*$")
# A sentence that only talks about the passages ("This is stated in passage [2].").
_META = re.compile(r"^\W*(?:(?:this|that|it|which|the (?:information|answer))\b.{0,40}\b(?:is|was|are|can be)\s+"
                   r"(?:stated|mentioned|found|shown|seen|given)\b|according to (?:the )?passages?\W*$|"
                   r"(?:这|此|以上)\S{0,12}(?:见|来自|出自|在)\S{0,6}(?:段落|资料|文段))", re.IGNORECASE)


def is_factual(sentence: str) -> bool:
    plain = MARKER.sub("", sentence).strip()
    if len(plain) < 4:
        return False
    return bool(_NUMBER.search(plain) or re.search(f"[A-Z][a-z]+|[{HAN_CHARS}]{{6,}}", plain))


@dataclass
class Checked:
    text: str                                # the answer with markers repaired
    cited: list[int]                         # display numbers in use
    unsupported: list[str] = field(default_factory=list)
    added: int = 0                           # markers the checker added or re-pointed
    supported: int = 0                       # factual sentences backed by a chunk


# What a chunk that retrieval found for the question adds to its ranking support when the
# checker chooses a chunk for a sentence: the sentence answers the question, and among chunks
# that back it about as well, the one that fits the question states the claim
# (docs/EVAL.md, "Citations chosen with the question, an echoed yes or no, distinct passages").
RETRIEVED_BONUS = 0.15
# How much less of a claim the credited document's chunk may back (ranking support) than the chunk
# it would replace: "about as well", the same margin as RETRIEVED_BONUS.
CREDIT_MARGIN = RETRIEVED_BONUS
# Key terms a sentence must hold besides its credit ("According to X, …") to be re-pointed to X.
_CLAIM_WORDS = 2
# The share of a sentence's key terms a chunk must hold to back it.
SUPPORT_THRESHOLD = 0.34


def check_answer(text: str, chunk_for: dict[int, str], threshold: float = SUPPORT_THRESHOLD,
                 all_chunks: dict[int, str] | None = None,
                 glossary: dict[str, list[str]] | None = None,
                 retrieved: set | frozenset = frozenset(),
                 credited: Callable[[str], set] | None = None,
                 key_of: dict[int, int] | None = None,
                 names: dict | None = None, asked: str = "") -> tuple[Checked, dict[int, int]]:
    """Check each sentence of an answer whose markers are display numbers.

    `chunk_for` maps display n -> cited chunk text; `all_chunks` maps a key -> text of
    every chunk the model was given. A cited sentence its chunks do not support is
    re-pointed to the given chunk that clearly does, else flagged; an uncited factual
    sentence gets a marker for its best chunk when that chunk clearly supports it, else
    it is flagged. `retrieved` holds the keys retrieval found for the question; they win
    near ties. `credited(sentence)` gives the keys of the chunks of the documents a sentence
    credits with its claim ("According to 9to5Google, …"; rag/attribution.py), and `key_of`
    maps display n -> key: a sentence that cites another document is re-pointed to the credited
    document's chunk that backs it, when one does. `names` maps a key -> the name its chunk is
    read under (its document's title): a sentence that restates the name ("Under the GNU Lesser
    General Public License 2.1, …") is backed by a chunk that never repeats it; the name decides
    whether a chunk backs the sentence, never which chunk backs it best. `asked`: the question (with
    the ones a follow-up continues); when it asks which ones ("Which models …?", "哪些…？"), a sentence
    naming two or more names the question does not, all held by one chunk that backs no fewer of its
    words than `support` asks of numbers and names, is backed by that chunk: its claim is the names,
    its other words restate the question ("The article cites several models from the releases log,
    including TranslateGemma and MedGemma"). A sentence no chunk backs whose list holds an item a chunk
    does not name ("…, MedGemma, and Gemini 3 Pro" against the release log) is kept without that item
    when that chunk, or another, backs the rest. Returns the repaired text and the markers it added (display n -> key in `all_chunks`)."""
    all_chunks = all_chunks or {}
    # A run of bare markers ("[9][40] [9][41] [9][42] …", a reply that fell into numbering the
    # passages until its token limit) carries no claim and reads as noise; so does a marker the
    # limit cut off ("… [").
    cleaned = _CUT_MARKER.sub("", _MARKER_RUN.sub(" ", text))
    text = cleaned.rstrip() if cleaned != text else text
    next_n = max(chunk_for, default=0) + 1
    added_map: dict[int, int] = {}
    unsupported: list[str] = []
    supported = 0
    edits: list[tuple[int, int, str]] = []          # (start, end, replacement)

    key_of = key_of or {}
    number_for_key: dict[int, int] = {key: n for n, key in key_of.items()}
    names = names or {}
    versions = {key: name_numbers(name) for key, name in names.items()}
    asked_names = set(names_in(asked)) if _ASKS_WHICH.search(asked) else None

    def best_given(sentence: str, among: set | None = None) -> tuple[float, int | None]:
        # `all_chunks` comes best-ranked first: among equally good matches the
        # retrieval ranking decides, so a passing mention loses to the real statement.
        # A chunk the model did not cite must back a word of the sentence, not only its
        # numbers ("明天北京…15 到 20 摄氏度" is not backed by "January 15, 2026").
        # Chunks are read alone first; only when none backs the sentence are they read under their
        # names, ranked on their own words and their name's version.
        found = ranked_best(sentence, among, named=False)
        if found[0] >= threshold or not names:
            return found
        by_name = ranked_best(sentence, among, named=True)
        return by_name if by_name[0] >= threshold else found

    def ranked_best(sentence: str, among: set | None, named: bool) -> tuple[float, int | None]:
        best = None                          # (ranking score, -rank, support, key)
        for rank, (key, t) in enumerate(all_chunks.items()):
            if among is not None and key not in among:
                continue
            backing = support_scores(sentence, t, glossary, name=names.get(key, "") if named else "", check_names=True)
            if not backing.words:
                continue
            own = support_scores(sentence, t, glossary, name=versions.get(key, "")) if named else backing
            # The bonus picks among chunks that back the sentence; it never lets one that does
            # not win over one that does.
            fit = own.rank + (RETRIEVED_BONUS if key in retrieved and backing.support >= threshold else 0.0)
            row = (round(fit, 2), -rank, backing.support, key)
            if best is None or row[:2] > best[:2]:
                best = row
        return (best[2], best[3]) if best else (0.0, None)

    def own_backed(sentence: str) -> bool:
        """A given chunk's own words, without its name, back the sentence."""
        return any(support(sentence, t, glossary) >= threshold for t in all_chunks.values())

    def credited_instead(sentence: str, against: list[str], cited: set) -> int | None:
        # The chunk of the document the sentence credits ("According to 9to5Google, …") that backs
        # its claim about as well as the chunks in `against` (those it cites, or the best one
        # found), unless it cites that document already (`cited`: keys): the sentence
        # without its credit must say something ("Google Cloud says so." does not), and a source
        # kept as a snippet may hold only half of what a summary states.
        owners = credited(sentence) if credited else set()
        if not owners or owners & cited:
            return None
        claim = uncredited(sentence)
        if len(key_terms(claim)) < _CLAIM_WORDS:
            return None
        backing, key = best_given(claim, among=owners)
        if key is None or backing < threshold or support(sentence, all_chunks[key], glossary, names.get(key, "")) < threshold:
            return None
        # Compared with `rank_support`, which counts a word unchecked across languages half against a
        # chunk: an English claim is not backed "better" by a Chinese chunk that leaves its words unchecked.
        best_other = max((rank_support(claim, t, glossary) for t in against), default=0.0)
        return key if rank_support(claim, all_chunks[key], glossary) >= best_other - CREDIT_MARGIN else None

    def best_for(sentence: str) -> tuple[float, int | None]:
        score, key = best_given(sentence)
        owner = credited_instead(sentence, [all_chunks[key]], {key}) if key is not None else None
        return (support(sentence, all_chunks[owner], glossary, names.get(owner, "")), owner) if owner is not None \
            else (score, key)

    def listed(sentence: str) -> int | None:
        """The first given chunk holding every name the sentence adds to a question asking which (two
        or more), its numbers and names backed (`support_scores` gives a chunk that fails them nothing)."""
        if asked_names is None:
            return None
        added = [n for n in names_in(uncredited(MARKER.sub(" ", sentence))) if n not in asked_names]
        if len(added) < 2:
            return None
        return next((key for key, t in all_chunks.items() if not names_lacking(added, t, glossary)
                     and support_scores(sentence, t, glossary, check_names=True).words), None)

    def backed(sentence: str) -> int | None:
        score, key = best_for(sentence)
        return key if key is not None and score >= threshold else listed(sentence)

    def pruned(sentence: str) -> str | None:
        """The sentence without its list's items a chunk does not name, cited, when that chunk
        (or another) backs the rest; chunks in their ranked order."""
        held = names_in(uncredited(MARKER.sub(" ", sentence)))
        tried = set()
        for t in all_chunks.values():
            shorter = without_items(sentence, names_lacking(list(held), t, glossary))
            if shorter is None or shorter in tried:
                continue
            tried.add(shorter)
            key = backed(shorter)
            if key is not None:
                m = re.search(r"[。！？!?.\s]+$", shorter)
                end = m.start() if m else len(shorter)
                return shorter[:end] + marker_for(key) + shorter[end:]
        return None

    def marker_for(key: int) -> str:
        nonlocal next_n
        if key not in number_for_key:
            number_for_key[key] = next_n
            added_map[next_n] = key
            next_n += 1
        return f"[{number_for_key[key]}]"

    for a, b in sentence_spans(text):
        sentence = text[a:b]
        if _META.search(MARKER.sub("", sentence).strip()):
            edits.append((a, b, ""))         # remarks about the passages carry no claim
            continue
        valid = [n for n in parse_markers(sentence) if n in chunk_for]
        if valid:
            scores = {n: support(sentence, chunk_for[n], glossary) for n in valid}
            joint = support(sentence, "\n".join(chunk_for[n] for n in valid), glossary)
            if max(scores.values()) < threshold and joint < threshold and not own_backed(sentence):
                # No chunk's own words back it: the cited chunks may, read under their names.
                scores = {n: support(sentence, chunk_for[n], glossary, names.get(key_of.get(n), "")) for n in valid}
                joint = support(sentence, "\n".join(chunk_for[n] for n in valid), glossary,
                                " ".join(names.get(key_of.get(n), "") for n in valid))
            if max(scores.values()) >= threshold or joint >= threshold:
                supported += 1
                owner = credited_instead(sentence, [chunk_for[n] for n in valid], {key_of.get(n) for n in valid})
                if owner is not None:
                    first = MARKER.search(sentence)
                    edits.append((a + first.start(), b, marker_for(owner) + MARKER.sub("", sentence[first.start():])))
                    continue
                weak = [n for n, sc in scores.items() if sc < threshold * 0.5]
                if weak and len(weak) < len(valid):
                    # Keep the markers whose chunk backs the claim, drop the stray ones.
                    edits.append((a, b, _drop_markers(sentence, set(weak))))
                continue
            key = backed(sentence)
            if key is not None:
                supported += 1
                first = MARKER.search(sentence)
                cleaned = MARKER.sub("", sentence[first.start():])
                edits.append((a + first.start(), b, marker_for(key) + cleaned))
            elif kept := pruned(sentence):
                supported += 1
                edits.append((a, b, kept))
            else:
                unsupported.append(MARKER.sub("", sentence).strip())
            continue
        if not is_factual(sentence):
            continue
        key = backed(sentence)
        if key is not None:
            supported += 1
            m = re.search(r"[。！？!?.\s]+$", sentence)
            pos = a + (m.start() if m else len(sentence))
            edits.append((pos, pos, marker_for(key)))
        elif kept := pruned(sentence):
            supported += 1
            edits.append((a, b, kept))
        else:
            unsupported.append(sentence.strip())
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    cited = sorted(set(parse_markers(text)))
    return Checked(text, cited, unsupported, len(edits), supported), added_map


# A question asking which ones: its answer's claim is the names it gives.
_ASKS_WHICH = re.compile(r"\bwhich\b|\bname (?:the|all|any)\b|哪些|哪几|哪幾|哪[个個款种種家位]", re.IGNORECASE)

# What joins the items of a list: commas, "and"/"or", 、, 和/及/与/或.
_LIST_JOIN = re.compile(r"(\s*(?:,\s*(?:and|or)\s+|\s+(?:and|or)\s+|[,，、]|以及|和|及|与|與|或)\s*)")
_ITEM_WORDS = 1               # words an item may hold beside its name and numbers ("the Gemini 3 Pro")
_SHORT_ITEM = 4               # words of an item of a list, not of the clause that opens it


def without_items(sentence: str, names: list[str]) -> str | None:
    """`sentence` (its markers dropped) without the list items that hold one of `names` and
    little else ("including TranslateGemma, MedGemma, and Gemini 3 Pro" without "gemini", "pro":
    "including TranslateGemma and MedGemma"); None when no such item is found, or the list
    would keep no item after its first."""
    if not names:
        return None
    plain = MARKER.sub("", sentence)
    m = re.search(r"[。！？!?.;；\s]+$", plain)
    body, end = (plain[:m.start()], plain[m.start():]) if m else (plain, "")
    parts = _LIST_JOIN.split(body)
    items, joins = parts[0::2], parts[1::2]
    drop = [i for i in range(1, len(items)) if _only_names(items[i], names)]
    if not drop or len(drop) >= len(items) - 1:
        return None
    last, kept = len(items) - 1, [i for i in range(1, len(items)) if i not in drop]
    out = items[0]
    for i in kept:
        join = joins[i - 1]
        if last in drop and i == kept[-1]:
            # The list's new last item takes the "and" the dropped last one had; a list of fewer
            # than three short items has no comma before it ("including TranslateGemma and MedGemma").
            join = joins[last - 1]
            short = [j for j in [0, *kept] if len(items[j].split()) <= _SHORT_ITEM]
            join = join.replace(",", "", 1) if len(short) < 3 and join.strip().startswith(",") else join
        out += join + items[i]
    return out + end


def _only_names(item: str, names: list[str]) -> bool:
    """The item holds one of `names` and, beside names and numbers, at most `_ITEM_WORDS` words."""
    low = item.lower()
    held = [n for n in names if re.search(name_word(n), low)]
    if not held:
        return False
    rest = low
    for n in held:
        rest = re.sub(name_word(n), " ", rest)
    words = re.findall(r"[a-z]+", rest)
    return len(words) <= _ITEM_WORDS and len(re.findall(f"[{HAN_CHARS}]", rest)) <= 2


def _drop_markers(sentence: str, numbers: set[int]) -> str:
    def rewrite(m: re.Match) -> str:
        keep = [n for n in _numbers(m) if n not in numbers]
        return "".join(f"[{n}]" for n in keep)
    return MARKER.sub(rewrite, sentence)


def renumber(text: str) -> tuple[str, dict[int, int]]:
    """Markers renumbered 1, 2, 3 ... in order of first use; returns old -> new."""
    mapping: dict[int, int] = {}
    for n in parse_markers(text):
        mapping.setdefault(n, len(mapping) + 1)

    def rewrite(m: re.Match) -> str:
        numbers = _numbers(m)
        if not all(n in mapping for n in numbers):
            return m.group(0)
        return "".join(dict.fromkeys(f"[{mapping[n]}]" for n in numbers))
    return MARKER.sub(rewrite, text), mapping
