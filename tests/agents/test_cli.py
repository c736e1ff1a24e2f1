"""The one command-line convention: docstring help, types from annotations, nested groups."""

from __future__ import annotations

import argparse
import enum
from dataclasses import dataclass

import pytest

from agents import cli


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    steps: int = 2
    """How many steps."""
    color: Color = Color.RED
    """Which color."""

    def __post_init__(self) -> None:
        cli.coerce_enums(self)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    """A name."""
    limit: int | None = None
    """At most this many (None: no limit)."""
    fast: bool = False
    """Go fast."""
    first: Inner = Inner(steps=3)
    """The first group."""
    second: Inner = Inner()
    """The second group."""


def parse(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser, Outer)
    return vars(parser.parse_args(argv))


def test_options_are_typed_flattened_and_helped_by_docstrings():
    assert parse() == {
        "name": "x", "limit": None, "fast": False, "first_steps": 3, "first_color": Color.RED,
        "second_steps": 2, "second_color": Color.RED,
    }  # fmt: skip
    values = parse("--limit", "4", "--fast", "--first-steps", "7", "--second-color", "blue")
    assert (values["limit"], values["fast"], values["first_steps"]) == (4, True, 7)
    assert values["second_color"] is Color.BLUE
    with pytest.raises(SystemExit):
        parse("--second-color", "green")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser, Outer)
    text = " ".join(parser.format_help().split())
    assert "At most this many (None: no limit). (default: None)" in text
    assert "--first-*: The first group." in text and "first: How many steps. (default: 3)" in text


def test_nest_takes_flat_keys_groups_or_both_and_flatten_inverts_it():
    outer = Outer(**cli.nest(Outer, parse("--first-steps", "9")))
    assert outer.first == Inner(steps=9) and outer.second == Inner()
    assert cli.flatten(outer)["first_steps"] == 9 and cli.flatten(outer)["second_color"] == "red"
    again = Outer(**cli.nest(Outer, cli.flatten(outer)))
    assert again == outer
    nested = cli.as_dict(outer)
    assert nested["first"] == {"steps": 9, "color": "red"}
    assert Outer(**cli.nest(Outer, {"first": {"steps": 1}, "first_color": "blue"})).first == Inner(
        1, Color.BLUE
    )
    changed = cli.nest(Outer, {"second_steps": 5}, base=outer)  # unset fields from the base
    assert changed == {"second": Inner(steps=5)}
    with pytest.raises(ValueError, match="unknown keys \\['bogus', 'first_bogus'\\]"):
        cli.nest(Outer, {"bogus": 1, "first_bogus": 2})
