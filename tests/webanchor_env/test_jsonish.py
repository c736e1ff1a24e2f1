"""The lenient JSON reader shared by the action parser and the agents' readers."""

import pytest

from webanchor_env.jsonish import balanced_objects, load_object, python_to_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": [1, "x"]} and then prose', {"a": [1, "x"]}),
        ("prose first {'a': 'it\\'s', 'b': True, 'c': None}", {"a": "it's", "b": True, "c": None}),
        ("{'a': [1, 2,], 'b': {'c': false,},}", {"a": [1, 2], "b": {"c": False}}),
        ("{'a': 'say \"hi\"'}", {"a": 'say "hi"'}),
    ],
)
def test_json_and_python_literals_are_read(text, expected):
    assert load_object(text)[0] == expected


@pytest.mark.parametrize("text", ["no object", "{'a': 'unterminated}", "{a: 1}", "{" * 40])
def test_what_is_not_an_object_gives_none(text):
    assert load_object(text)[0] is None


def test_commas_and_words_inside_strings_are_kept():
    assert python_to_json("{'a': 'x, ]', 'True': 'None'}")[0] == '{"a": "x, ]", "True": "None"}'


def test_work_is_linear_in_the_text():
    for unit in ("'a', ", "{'a': ", ",,,,", "True "):
        small = load_object("{" + unit * 1000)[1]
        large = load_object("{" + unit * 2000)[1]
        assert large <= 2 * small + 16


def test_balanced_objects_skip_braces_inside_strings():
    text = 'a {"x": "}"} b {\'y\': {"z": 1}} c {unclosed'
    assert balanced_objects(text) == ['{"x": "}"}', "{'y': {\"z\": 1}}"]
