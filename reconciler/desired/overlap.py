"""Overlapping overrides: each repository may match at most one override, so no two globs of different
overrides may match a common name. `common_match` decides it for two fnmatch globs (and names one such
name); `overlap_issues` finds the overlapping pairs without comparing every pair."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from reconciler.desired.document import Document, Issue, issue

# A character class as fnmatch reads it: `negated` means "any character except those in `ranges`".
_CharClass = tuple[bool, tuple[tuple[int, int], ...]]
_STAR = "*"
_Token = _CharClass | str
_ANY: _CharClass = (True, ())
_PREFERRED = [ord(c) for c in "abcdefghijklmnopqrstuvwxyz0123456789-_./"]


def _glob_tokens(pattern: str) -> list[_Token]:
    """fnmatch's syntax: * (any string), ? (any character), [seq] / [!seq] (with ranges), else literal."""
    tokens: list[_Token] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            if not tokens or tokens[-1] != _STAR:
                tokens.append(_STAR)
        elif char == "?":
            tokens.append(_ANY)
        elif char == "[":
            j = i + (1 if i < n and pattern[i] == "!" else 0)
            j += 1 if j < n and pattern[j] == "]" else 0
            j = pattern.find("]", j)
            if j < 0:
                tokens.append((False, ((ord("["), ord("[")),)))
                continue
            body, i = pattern[i:j], j + 1
            negated = body.startswith("!")
            tokens.append((negated, _class_ranges(body[1:] if negated else body)))
        else:
            tokens.append((False, ((ord(char), ord(char)),)))
    return tokens


def _class_ranges(body: str) -> tuple[tuple[int, int], ...]:
    ranges: list[tuple[int, int]] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = ord(body[k]), ord(body[k + 2])
            if low <= high:  # fnmatch drops reversed ranges
                ranges.append((low, high))
            k += 3
        else:
            ranges.append((ord(body[k]), ord(body[k])))
            k += 1
    return tuple(sorted(ranges))


def _uncovered(low: int, high: int, ranges: Sequence[tuple[int, int]]) -> int | None:
    """The first code point in [low, high] outside every range, if any."""
    point = low
    for r_low, r_high in sorted(ranges):
        if point < r_low:
            break
        point = max(point, r_high + 1)
    return point if point <= high else None


def _common_char(a: _CharClass, b: _CharClass) -> str | None:
    """A character both classes accept (readable ones first), or None."""
    (a_negated, a_ranges), (b_negated, b_ranges) = a, b
    if a_negated and b_negated:
        excluded = [*a_ranges, *b_ranges]
        for code in _PREFERRED:
            if _uncovered(code, code, excluded) is not None:
                return chr(code)
        found = _uncovered(0x20, 0x10FFFF, excluded)
        return chr(found) if found is not None else None
    if a_negated:
        (a_negated, a_ranges), (b_negated, b_ranges) = b, a
    for low, high in a_ranges:
        if b_negated:
            found = _uncovered(low, high, b_ranges)
            if found is not None:
                return chr(found)
        else:
            for b_low, b_high in b_ranges:
                if max(low, b_low) <= min(high, b_high):
                    return chr(max(low, b_low))
    return None


def common_match(first: str, second: str) -> str | None:
    """A name both fnmatch globs match (a shortest one), or None when no name matches both.

    Walks the product of the two patterns' automata: a state is a position in each pattern; `*` may be
    skipped or may consume a character and stay.
    """
    a, b = _glob_tokens(first), _glob_tokens(second)
    start, goal = (0, 0), (len(a), len(b))
    parent: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state == goal:
            text: list[str] = []
            step = parent[state]
            while step is not None:
                text.append(step[1])
                step = parent[step[0]]
            return "".join(reversed(text))
        for following, char in _moves(a, b, state):
            if following not in parent:
                parent[following] = (state, char)
                queue.append(following)
    return None


def _moves(a: list[_Token], b: list[_Token], state: tuple[int, int]) -> Iterator[tuple[tuple[int, int], str]]:
    i, j = state
    if i < len(a) and a[i] == _STAR:
        yield (i + 1, j), ""
    if j < len(b) and b[j] == _STAR:
        yield (i, j + 1), ""
    if i < len(a) and j < len(b):
        a_token, b_token = a[i], b[j]
        a_class = _ANY if a_token == _STAR else a_token
        b_class = _ANY if b_token == _STAR else b_token
        assert not isinstance(a_class, str) and not isinstance(b_class, str)
        char = _common_char(a_class, b_class)
        if char is not None:
            yield (i if a_token == _STAR else i + 1, j if b_token == _STAR else j + 1), char


@dataclass(frozen=True)
class _OverrideGlob:
    override: int  # index in overrides
    position: int  # index in that override's repositories
    glob: str


def _literal_prefix(glob: str) -> str:
    """The characters every name the glob matches starts with (a conservative cut at the first wildcard)."""
    cut = min((i for i in (glob.find(c) for c in "*?[") if i >= 0), default=len(glob))
    return glob[:cut]


def _literal_suffix(glob: str) -> str:
    """The characters every matched name ends with (cut after the last wildcard or class bracket)."""
    return glob[max(glob.rfind(c) for c in "*?[]") + 1 :]


class _AffixIndex:
    """Finds the literal prefixes (or reversed suffixes) compatible with a key: one starts the other.

    Compatibility is symmetric, and both its halves can be counted without listing them: the keys that are
    prefixes of the key (at most len+1 buckets) and the keys the key starts (a range of the sorted keys).
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self.buckets: dict[str, list[int]] = {}
        for number, key in enumerate(keys):
            self.buckets.setdefault(key, []).append(number)
        ordered = sorted(range(len(keys)), key=lambda n: keys[n])
        self.ordered_keys = [keys[n] for n in ordered]
        self.ordered_numbers = ordered

    def _shorter(self, key: str) -> list[list[int]]:
        return [self.buckets[key[:length]] for length in range(len(key)) if key[:length] in self.buckets]

    def _longer_or_equal(self, key: str) -> range:
        low = bisect.bisect_left(self.ordered_keys, key)
        high = bisect.bisect_left(self.ordered_keys, key + "\U0010ffff")
        return range(low, high)

    def count(self, key: str) -> int:
        return sum(len(bucket) for bucket in self._shorter(key)) + len(self._longer_or_equal(key))

    def compatible(self, key: str) -> Iterator[int]:
        for bucket in self._shorter(key):
            yield from bucket
        for position in self._longer_or_equal(key):
            yield self.ordered_numbers[position]


def _compatible(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _candidate_pairs(globs: Sequence[_OverrideGlob]) -> Iterator[tuple[_OverrideGlob, _OverrideGlob]]:
    """Pairs of globs from different overrides that might overlap, without comparing every pair.

    Two globs can match a common name only if one's literal prefix starts the other's, and likewise for the
    suffixes. Each glob looks up whichever of the two indexes gives fewer candidates, and checks the other
    condition on those; a pair is kept once (from its lower-numbered glob).
    """
    prefixes = [_literal_prefix(g.glob) for g in globs]
    suffixes = [_literal_suffix(g.glob)[::-1] for g in globs]  # reversed: a suffix check is a prefix check
    by_prefix, by_suffix = _AffixIndex(prefixes), _AffixIndex(suffixes)
    for number, item in enumerate(globs):
        if by_prefix.count(prefixes[number]) <= by_suffix.count(suffixes[number]):
            candidates, still_to_check = by_prefix.compatible(prefixes[number]), suffixes
        else:
            candidates, still_to_check = by_suffix.compatible(suffixes[number]), prefixes
        for other in candidates:
            if (
                other > number
                and globs[other].override != item.override
                and _compatible(still_to_check[number], still_to_check[other])
            ):
                yield item, globs[other]


def overlap_issues(doc: Document, indexes: Sequence[int]) -> list[Issue]:
    """Each repository may match at most one override (else which access applies would be arbitrary)."""
    overrides = doc.data["overrides"]
    globs = [
        _OverrideGlob(index, position, glob)
        for index in indexes
        for position, glob in enumerate(overrides[index]["repositories"])
    ]
    found: dict[tuple[int, int], tuple[_OverrideGlob, _OverrideGlob, str]] = {}
    for first, second in _candidate_pairs(globs):
        earlier, later = sorted((first, second), key=lambda g: (g.override, g.position))
        key = (earlier.override, later.override)
        if key not in found:  # one problem per pair of overrides is enough
            name = common_match(earlier.glob, later.glob)
            if name is not None:
                found[key] = (earlier, later, name)
    return [_overlap_issue(doc, earlier, later, name) for earlier, later, name in found.values()]


def _overlap_issue(doc: Document, earlier: _OverrideGlob, later: _OverrideGlob, name: str) -> Issue:
    path = ("overrides", later.override, "repositories", later.position)
    later_line, earlier_line = (
        doc.line(("overrides", later.override)),
        doc.line(("overrides", earlier.override)),
    )
    overlap = f"{later.glob!r} (override at line {later_line}) "
    if later.glob == earlier.glob:
        overlap += f"is also in the override at line {earlier_line}"
    else:
        overlap += f"and {earlier.glob!r} (override at line {earlier_line}) both match {name!r}"
    message = (
        f"overrides overlap: {overlap}; a repository may match only one override: narrow the globs "
        "or merge the overrides"
    )
    return issue(path, doc.node(path), message)
