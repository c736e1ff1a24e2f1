"""When two answers are the same, and which accepted answer forms are too weak to keep.

:func:`normalize_answer` is the rule of the official SQuAD v1.1 evaluation script, also used
by HotpotQA: lowercase, drop ASCII punctuation, drop the articles "a", "an" and "the" as
whole words, and squeeze whitespace. The environment's exact-match reward compares answers
in this form.

An alias that normalizes to nothing, to a single letter or to a common English function word
("no" for Norway, "it" for Italy: country codes in MuSiQue's aliases) would make a guess
correct: a policy that learns to answer "no" collects the reward of every task that accepts
it. :func:`weak_alias` names such aliases; the importers drop them and count them, and the
environment warns about a corpus that still has some.
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")

STOPWORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against
    between into through during before after above below to from up down in out on off over
    under again further then once here there when where why how all any both each few more
    most other some such no nor not only own same so than too very s t can will just don
    should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn
    mustn needn shan shouldn wasn weren won wouldn
    """.split()  # noqa: SIM905 - one line of words reads better than 179
)
"""English function words (the NLTK English stopword list)."""

EMPTY, SINGLE_LETTER, STOPWORD = "empty", "single letter", "stopword"


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation, drop whole-word articles, squeeze whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def weak_alias(alias: str) -> str | None:
    """Why ``alias`` should not be accepted as an answer (``EMPTY``, ``SINGLE_LETTER`` or
    ``STOPWORD``, by its normalized form), or ``None`` when it may be."""
    form = normalize_answer(alias)
    if not form:
        return EMPTY
    if len(form) == 1 and form.isalpha():
        return SINGLE_LETTER
    if form in STOPWORDS:
        return STOPWORD
    return None
