"""Prompt variants: the system prompt, the question, prefills and how tool responses are shown.

A :class:`PromptVariant` is a frozen value that the rollout engine is given; swapping it
swaps the whole prompt format, and its :meth:`PromptVariant.to_json` is written next to every
run so that a result can always be traced to the exact prompt that produced it.

The system prompt is generated from the environment's tool definitions (OpenAI-style JSON
schemas, ``webanchor_env.actions.TOOL_SCHEMAS``) and asks the agent to begin with a plan,
the *Anchor Plan*, and then act, in the action grammar of the environment (DESIGN.md,
"Actions").

Prefills exist because small models (SmolLM2-135M) do not follow the format zero-shot: the
start of an assistant turn can be written for them (``<plan>`` on the first turn,
``<tool_call>{"name": "`` on later ones). Prefilled text is part of the prompt: its tokens
get action mask 0, and the policy only continues it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from webanchor_env.actions import TOOL_SCHEMAS

ObservationRole = str
"""The chat role a tool response is sent as: ``"user"`` or ``"tool"``."""

PREAMBLE = (
    "You are a web research agent. Answer the user's question by searching a wiki and "
    "reading its pages. Nothing outside the wiki can be reached.\n\n"
    "# Tools\n\n"
    "You may call the functions below. Their signatures are within <tools></tools> XML tags:\n"
    "<tools>\n{tools}\n</tools>"
)

REACT_INSTRUCTIONS = """# How to work

Begin your first turn with a plan inside <plan></plan>: the steps that will lead to the \
answer (which facts to find, in which order, with which tool). Then act on it.

In every turn, call a tool like this:
<tool_call>{{"name": "search", "arguments": {{"query": ["a query", "another query"]}}}}\
</tool_call>
<tool_call>{{"name": "visit", "arguments": {{"url": ["https://wiki.local/wiki/Title"], \
"goal": "what to find on the page"}}}}</tool_call>
You may think first inside <think></think>. The tool responses come back inside \
<tool_response></tool_response>.

When you know the answer, write it as a short phrase: <answer>the answer</answer>{answer_note}"""

PREFILL_ANSWER_NOTE = (
    '\nor, inside a tool call: <tool_call>{"name": "answer", "arguments": '
    '{"answer": "the answer"}}</tool_call>'
)


class ToolListing(str, enum.Enum):
    """How the system prompt lists the tools in place of ``{tools}``."""

    SCHEMAS = "schemas"
    """Each tool's JSON schema on a line, the form chat templates use."""
    CALLS = "calls"
    """One example call a line (``<tool_call>{...}</tool_call>``): the grammar by example."""


EXAMPLE_ARGUMENTS: dict[str, dict[str, Any]] = {
    "search": {"query": ["words"]},
    "visit": {"url": ["https://wiki.local/wiki/Title"], "goal": "a fact"},
}
"""Arguments of the example calls of :attr:`ToolListing.CALLS`; a tool not named here gets
its required parameters with ``"..."`` as values."""


def render_tools(tools: Sequence[Mapping[str, Any]]) -> str:
    """The tool schemas as one JSON object a line, the form chat templates use."""
    return "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)


def render_tool_calls(tools: Sequence[Mapping[str, Any]]) -> str:
    """One example call a tool, for small models:
    ``<tool_call>{"name": "search", "arguments": {"query": ["words"]}}</tool_call>``."""
    lines = []
    for tool in tools:
        function = tool.get("function", tool)
        name = function["name"]
        required = function.get("parameters", {}).get("required", [])
        arguments = EXAMPLE_ARGUMENTS.get(name, {key: "..." for key in required})
        call = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        lines.append(f"<tool_call>{call}</tool_call>")
    return "\n".join(lines)


@dataclass(frozen=True)
class PromptVariant:
    """One prompt format: system text, question wording, prefills, tool-response messages.

    The system text is ``preamble`` (with the tools listed in place of ``{tools}``) followed by
    ``instructions`` (when not empty). ``stop`` names the stop strings this format's turns end with; None keeps
    the sampling parameters' own.
    """

    name: str
    """Short identifier, recorded with every run (``--prompt`` of ``agents.evaluate``)."""
    instructions: str
    """What the agent is asked to do and the action format, after the tool list."""
    preamble: str = PREAMBLE
    """Role and tool list; ``{tools}`` is replaced by the rendered schemas."""
    question_template: str = "Question: {question}"
    """The first user message; ``{question}`` is the environment's reset observation."""
    first_prefill: str = ""
    """Text that starts the first (plan) assistant turn; prompt tokens, mask 0."""
    later_prefill: str = ""
    """Text that starts every later assistant turn; prompt tokens, mask 0."""
    observation_role: ObservationRole = "user"
    """Chat role of the message carrying a tool response ("user" or "tool")."""
    observation_template: str = "{observation}"
    """Content of that message; ``{observation}`` is the environment's observation."""
    stop: tuple[str, ...] | None = None
    """Stop strings this format needs (None: keep ``SamplingParams.stop``)."""
    tool_listing: ToolListing = ToolListing.SCHEMAS
    """How ``{tools}`` is rendered: JSON schemas, or one example call a tool."""
    step_labels: bool = False
    """Each action is labelled with the plan step it carries out (``Step 2: <tool_call>…``;
    :func:`step_label`), and later turns are prefilled with ``Step `` so that the agent
    writes the number: the label ties every turn to a line of the plan."""

    def __post_init__(self) -> None:
        if self.observation_role not in ("user", "tool"):
            raise ValueError(
                f"Expected observation_role 'user' or 'tool', got {self.observation_role!r}."
            )
        for field_name, key in (
            ("preamble", "{tools}"),
            ("question_template", "{question}"),
            ("observation_template", "{observation}"),
        ):
            if key not in getattr(self, field_name):
                raise ValueError(f"Expected {field_name} to contain {key}, it does not.")

    def system_text(self, tools: Sequence[Mapping[str, Any]] = TOOL_SCHEMAS) -> str:
        """The system prompt for these tools."""
        listing = ToolListing(self.tool_listing)
        rendered = (
            render_tools(tools) if listing is ToolListing.SCHEMAS else render_tool_calls(tools)
        )
        parts = (self.preamble.replace("{tools}", rendered), self.instructions)
        return "\n\n".join(part for part in parts if part)

    def initial_messages(
        self, question: str, tools: Sequence[Mapping[str, Any]] = TOOL_SCHEMAS
    ) -> list[dict[str, str]]:
        """The conversation before the first assistant turn: system and question."""
        return [
            {"role": "system", "content": self.system_text(tools)},
            {"role": "user", "content": self.question_template.replace("{question}", question)},
        ]

    def observation_message(self, observation: str) -> dict[str, str]:
        """The message that shows one environment observation to the agent."""
        content = self.observation_template.replace("{observation}", observation)
        return {"role": self.observation_role, "content": content}

    def prefill(self, turn: int) -> str:
        """The prefill of assistant turn ``turn`` (0 is the plan turn)."""
        return self.first_prefill if turn == 0 else self.later_prefill

    def to_json(self) -> dict[str, Any]:
        """Every field plus the rendered system prompt, as recorded with a run."""
        record = asdict(self)
        record["stop"] = list(self.stop) if self.stop is not None else None
        record["tool_listing"] = ToolListing(self.tool_listing).value
        record["system_text"] = self.system_text()
        return record


REACT = PromptVariant(name="react-plan", instructions=REACT_INSTRUCTIONS.format(answer_note="."))
"""Plan first, then one tool call a turn; no prefill. For models that follow instructions."""

REACT_PREFILL = PromptVariant(
    name="react-plan-prefill",
    instructions=REACT_INSTRUCTIONS.format(answer_note=PREFILL_ANSWER_NOTE + "."),
    first_prefill="<plan>",
    later_prefill='<tool_call>{"name": "',
)
"""As :data:`REACT`, with the turns prefilled so that a small model stays in the format."""

COMPACT_PREAMBLE = (
    "Answer from a wiki. Plan in <plan></plan> in plain sentences, then act:\n{tools}\n{answer}"
)

COMPACT_OBSERVATIONS = {"top_k": 2, "visit_chars": 1200, "goal_mode": False}
"""Environment settings that go with the compact variants: short observations for a 2k-token
context that still show the answer-bearing sentence on every gold path of the bundled train
split (``python -m benchmarks.bench_compact``, recorded in benchmarks/RESULTS.md)."""

COMPACT = PromptVariant(
    name="compact-plan",
    instructions="",
    preamble=COMPACT_PREAMBLE.replace("{answer}", "<answer>the answer</answer>"),
    question_template="{question}",
    tool_listing=ToolListing.CALLS,
)
"""A short prompt for small models (SmolLM2-135M): system and question in <= 200 tokens, the
tools one line each, the action grammar by example; no prefill."""

COMPACT_PREFILL = PromptVariant(
    name="compact-plan-prefill",
    instructions="",
    preamble=COMPACT_PREAMBLE.replace(
        "{answer}",
        '<tool_call>{"name": "answer", "arguments": {"answer": "the answer"}}</tool_call>',
    ),
    question_template="{question}",
    tool_listing=ToolListing.CALLS,
    first_prefill="<plan>",
    later_prefill='<tool_call>{"name": "',
)
"""As :data:`COMPACT`, with the turns prefilled as in :data:`REACT_PREFILL` (answers are
written as an ``answer`` tool call)."""

STEP_PREFILL = "Step "
"""The later-turn prefill of a variant with :attr:`PromptVariant.step_labels`."""


def step_label(step: int) -> str:
    """The label before the action of plan step ``step`` (1-based): ``"Step 2: "``."""
    return f"{STEP_PREFILL}{step}: "


COMPACT_STEPS = PromptVariant(
    name="compact-plan-steps",
    instructions="",
    preamble=(
        "Answer from a wiki. Plan in <plan></plan> in numbered plain sentences, then do one "
        "step a turn, labelled with its number (Step 1: ...):\n{tools}\n<answer>the answer</answer>"
    ),
    question_template="{question}",
    tool_listing=ToolListing.CALLS,
    first_prefill="<plan>",
    later_prefill=STEP_PREFILL,
    step_labels=True,
)
"""As :data:`COMPACT`, with every action labelled by the plan step it carries out. A small
model that acts with bare tool calls loses count of its plan (it answers a 2-hop question
after one visit); the label makes "which step is next" a copy from its previous turn and
"what that step does" a lookup in its plan. A failed step is retried under the same label."""

PROMPTS: dict[str, PromptVariant] = {
    p.name: p for p in (REACT, REACT_PREFILL, COMPACT, COMPACT_PREFILL, COMPACT_STEPS)
}
"""The variants selectable by name (``agents.evaluate --prompt``)."""

DEFAULT_PROMPT = REACT


def get_prompt(name: str) -> PromptVariant:
    """The variant called ``name``; the error lists the known names (the anticipatory
    variants are registered when :mod:`agents.anticipatory` is imported)."""
    if name not in PROMPTS:
        raise ValueError(f"Expected a prompt variant among {sorted(PROMPTS)}, got {name!r}.")
    return PROMPTS[name]


def register_prompt(variant: PromptVariant) -> PromptVariant:
    """Make a variant selectable by name; a different variant with the same name is refused."""
    known = PROMPTS.get(variant.name)
    if known is not None and known != variant:
        raise ValueError(f"Expected a new prompt name, got {variant.name!r}, already registered.")
    PROMPTS[variant.name] = variant
    return variant
