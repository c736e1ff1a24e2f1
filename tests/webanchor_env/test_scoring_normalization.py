"""SQuAD/HotpotQA answer normalization, exact match and F1 on the known edge cases."""

from __future__ import annotations

import pytest

from webanchor_env.scoring import contains_answer, exact_match, f1_score, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),  # case and a leading article
        ("an apple a day", "apple day"),  # every article, anywhere
        ("Theatre Royal", "theatre royal"),  # "the" inside a word stays
        ("Anatomy of Athens", "anatomy of athens"),  # "an", "a" inside words stay
        ("A.B.C.", "abc"),  # ASCII punctuation dropped, not spaced
        ("rock-n-roll", "rocknroll"),
        ("  lots \t of\n\nspace  ", "lots of space"),
        ("Zürich", "zürich"),  # non-ASCII letters kept
        ("café—bar", "café—bar"),  # the em dash is not ASCII punctuation
        ("«Quoted»", "«quoted»"),  # neither are guillemets
        ("THE", ""),  # an answer of only an article normalizes to nothing
        ("the-the", "thethe"),  # punctuation goes first, leaving one word, not two articles
        ("$1,000.50", "100050"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match_uses_answer_and_aliases() -> None:
    answers = ("Tilde Marr", "T. Marr")
    assert exact_match("tilde marr", answers) == 1.0
    assert exact_match("T Marr", answers) == 1.0
    assert exact_match("Marr", answers) == 0.0
    assert exact_match("the Tilde Marr.", "Tilde Marr") == 1.0  # a plain string works too
    assert exact_match("anything", ()) == 0.0


def test_f1_is_token_overlap_and_best_over_answers() -> None:
    assert f1_score("Tilde Marr", "Tilde Marr") == 1.0
    assert f1_score("Tilde", "Tilde Marr") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert f1_score("Marr", ("Tilde Marr", "Marr")) == 1.0
    assert f1_score("nothing shared", "Tilde Marr") == 0.0
    assert f1_score("x", ()) == 0.0
    assert f1_score("the", "a") == 0.0  # both empty after normalization: no tokens, no credit


def test_f1_counts_repeated_tokens_once_each() -> None:
    # overlap 2 (x once, y once), precision 2/3, recall 1, F1 0.8.
    assert f1_score("x x y", "x y") == pytest.approx(0.8)


@pytest.mark.parametrize(("prediction", "gold"), [("yes", "yes it is"), ("no way", "no")])
def test_f1_yes_no_special_case(prediction: str, gold: str) -> None:
    assert f1_score(prediction, gold) == 0.0
    assert f1_score("Yes.", "yes") == 1.0


def test_contains_answer_matches_whole_words_only() -> None:
    assert contains_answer("It opened in 1987, in Varro.", ("1987",))
    assert not contains_answer("Page 19870 of the list.", ("1987",))
    assert contains_answer("The mayor is TILDE MARR!", ("Tilde Marr",))
    assert not contains_answer("the the the", ("The",))  # empty answers never count
