"""A tiny hand-written wiki (8 pages, 3 tasks): the tests' corpus, and the fuzz benchmark's.

The pages follow the generated wiki's layout (nav and footer boilerplate, ``<main>`` with
an ``h1#firstHeading``, a lead, an infobox table, h2/h3 sections with lists, category
links) except "Glasswing Bridge", which has the bare layout of imported real data.
"""

from __future__ import annotations

from pathlib import Path

from wiki_corpus.io import write_corpus
from wiki_corpus.schema import Gold, Page, Task, title_to_url


def _a(title: str, text: str | None = None) -> str:
    return f'<a href="{title_to_url(title)}">{text or title}</a>'


def _html(
    title: str,
    lead: str,
    infobox: list[tuple[str, str]],
    body: str,
    categories: list[str],
) -> str:
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in infobox)
    cats = " | ".join(_a(f"Category:{c}", c) for c in categories)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - WikiLocal</title>
<style>body {{ font-family: serif; }} .infobox {{ float: right; }}</style></head>
<body>
<nav class="wiki-nav"><a href="https://wiki.local/wiki/Main_Page">Main page</a> |
<a href="https://wiki.local/wiki/Special:Random">Random article</a> | Jump to navigation</nav>
<main>
<h1 id="firstHeading">{title}</h1>
<p class="lead">{lead}</p>
<table class="infobox"><caption>{title}</caption>{rows}</table>
{body}
<div class="catlinks">Categories: {cats}</div>
</main>
<footer class="wiki-footer">This page was last edited by a generator. Text is available
under a made-up licence. <a href="https://wiki.local/wiki/About">About WikiLocal</a></footer>
<script>window.trackPageView && trackPageView();</script>
</body></html>"""


LUMEN_HISTORY = " ".join(
    [
        "Plans for a tower on the old customs wharf were first published in 1989 by the",
        "Cobalt Bay Harbour Trust, which wanted a landmark visible from the open sea.",
        "An open competition drew forty-one entries; the jury chose the proposal of",
        f"{_a('Orlan Vesk (architect)', 'Orlan Vesk')}, whose slender glass prism tapered",
        "toward a lantern crown. Ground was broken in March 1993 and the steel frame",
        "topped out in the autumn of 1996, two months behind schedule after a dock strike.",
    ]
)
LUMEN_DESIGN = " ".join(
    [
        "The tower rises 212 metres over 58 floors. Its double-skin facade of low-iron",
        "glass lets the lantern crown glow amber at dusk, a feature local residents call",
        "the harbour candle. The structure uses a concrete core with outrigger trusses at",
        "floors 20 and 41, designed to resist the gales that sweep in from the Pellucid",
        "Strait. Seventy tuned mass dampers were considered and rejected in favour of a",
        "single 340-tonne pendulum hung beneath the observation deck.",
    ]
)

PAGES = [
    Page(
        "p-lumen",
        title_to_url("Lumen Tower"),
        "Lumen Tower",
        _html(
            "Lumen Tower",
            f"<b>Lumen Tower</b> is a 212-metre skyscraper in {_a('Cobalt Bay')}, completed "
            "in 1998. It was the tallest building in Estmark until 2011.",
            [
                ("Architect", _a("Orlan Vesk (architect)", "Orlan Vesk")),
                ("Height", "212 m"),
                ("Floors", "58"),
                ("Completed", "1998"),
                ("Location", _a("Cobalt Bay")),
            ],
            f"""<h2>History</h2><p>{LUMEN_HISTORY}</p>
<h3>Construction</h3><p>The builder, Marrow &amp; Finch, used slip-forming for the core,
which rose by four metres a day at its fastest. Twelve workers received the Harbour Medal
for a night rescue during the storm of January 1995.</p>
<h2>Design</h2><p>{LUMEN_DESIGN}</p>
<ul><li>Observation deck on floor 56</li><li>Lantern crown lit by 4,000 amber lamps
<ul><li>Renewed in 2015</li></ul></li><li>Public atrium with a winter garden</li></ul>
<h2>Reception</h2><p>Critics praised the crown and disliked the podium; the tower won the
Estmark Prize for Architecture in 1999.</p>
<h2>See also</h2><ol><li>{_a("Glasswing Bridge")}</li><li>{_a("Cobalt Bay")}</li></ol>""",
            ["Skyscrapers in Cobalt Bay", "Buildings completed in 1998"],
        ),
    ),
    Page(
        "p-vesk",
        title_to_url("Orlan Vesk (architect)"),
        "Orlan Vesk (architect)",
        _html(
            "Orlan Vesk (architect)",
            f"<b>Orlan Vesk</b> (1941–2019) was an Estmarkian architect born in {_a('Tessary')}, "
            "best known for the Lumen Tower.",
            [
                ("Born", f"4 May 1941, {_a('Tessary')}"),
                ("Died", "12 February 2019"),
                ("Alma mater", _a("Varn Institute of Design")),
                ("Notable works", _a("Lumen Tower")),
            ],
            f"""<h2>Early life</h2><p>Vesk grew up above his father's clock shop and studied at
the {_a("Varn Institute of Design")}, graduating in 1964.</p>
<h2>Career</h2><p>He opened a small studio in {_a("Cobalt Bay")} in 1971. His works include:</p>
<ul><li>{_a("Lumen Tower")} (1998)</li><li>The Saltmarket Library (1984)</li></ul>""",
            ["Estmarkian architects", "1941 births"],
        ),
    ),
    Page(
        "p-cobalt",
        title_to_url("Cobalt Bay"),
        "Cobalt Bay",
        _html(
            "Cobalt Bay",
            "<b>Cobalt Bay</b> is a port city on the Pellucid Strait and the second city of "
            "Estmark, with a population of 842,000.",
            [("Country", "Estmark"), ("Population", "842,000"), ("Founded", "1312")],
            f"""<h2>Landmarks</h2><ul><li>{_a("Lumen Tower")}</li>
<li>{_a("Glasswing Bridge")}</li><li>The Saltmarket</li></ul>
<h2>Economy</h2><p>Shipping and glassmaking have dominated the economy since the
fourteenth century; the cobalt glaze that names the city was traded across the strait.</p>""",
            ["Port cities in Estmark"],
        ),
    ),
    Page(
        "p-varn",
        title_to_url("Varn Institute of Design"),
        "Varn Institute of Design",
        _html(
            "Varn Institute of Design",
            f"The <b>Varn Institute of Design</b> is a school of architecture in {_a('Tessary')}, "
            "founded in 1902 by the sculptor Ilse Varn.",
            [("Founded", "1902"), ("Founder", "Ilse Varn"), ("Students", "2,300")],
            f"""<h2>Alumni</h2><ul><li>{_a("Orlan Vesk (architect)", "Orlan Vesk")}</li>
<li>Dagny Holm</li></ul>""",
            ["Schools of architecture", "Educational institutions established in 1902"],
        ),
    ),
    Page(
        "p-tessary",
        title_to_url("Tessary"),
        "Tessary",
        _html(
            "Tessary",
            "<b>Tessary</b> is a market town in the uplands of Estmark, known for its "
            "clockmakers and its spring horse fair.",
            [("Country", "Estmark"), ("Population", "31,400")],
            f"<h2>Education</h2><p>The {_a('Varn Institute of Design')} is the town's largest "
            "employer.</p>",
            ["Towns in Estmark"],
        ),
    ),
    Page(
        "p-solenne-painter",
        title_to_url("Mira Solenne (painter)"),
        "Mira Solenne (painter)",
        _html(
            "Mira Solenne (painter)",
            "<b>Mira Solenne</b> (born 1958) is a painter of seascapes in tempera on gesso.",
            [("Born", "1958"), ("Movement", "New Luminism")],
            "<h2>Works</h2><ul><li>Storm over the Strait (1990)</li><li>Amber Harbour</li></ul>",
            ["Estmarkian painters"],
        ),
    ),
    Page(
        "p-solenne-singer",
        title_to_url("Mira Solenne (singer)"),
        "Mira Solenne (singer)",
        _html(
            "Mira Solenne (singer)",
            "<b>Mira Solenne</b> (born 1979) is a mezzo-soprano with the Cobalt Bay Opera.",
            [("Born", "1979"), ("Voice type", "Mezzo-soprano")],
            "<h2>Roles</h2><p>Her debut was as Carmen in 2003.</p>",
            ["Estmarkian singers"],
        ),
    ),
    Page(
        "p-glasswing",
        title_to_url("Glasswing Bridge"),
        "Glasswing Bridge",
        "<main><h1>Glasswing Bridge</h1><p>Glasswing Bridge is a cable-stayed footbridge "
        "across the inner harbour of Cobalt Bay, opened in 2006.</p><p>Its deck is made of "
        "laminated glass panels that hum in a strong wind.</p></main>",
    ),
]

TASKS = [
    Task(
        "t-1",
        "Who was the architect of Lumen Tower?",
        "Orlan Vesk",
        split="train",
        gold=Gold(
            pages=(title_to_url("Lumen Tower"),),
            actions=(
                {"name": "search", "arguments": {"query": ["Lumen Tower architect"]}},
                {"name": "visit", "arguments": {"url": [title_to_url("Lumen Tower")]}},
            ),
        ),
    ),
    Task(
        "t-2",
        "In which town was the architect of Lumen Tower born?",
        "Tessary",
        split="dev",
        difficulty=2,
        hops=2,
        gold=Gold(pages=(title_to_url("Lumen Tower"), title_to_url("Orlan Vesk (architect)"))),
    ),
    Task(
        "t-3",
        "In what year was the school where the architect of Lumen Tower studied founded?",
        "1902",
        aliases=("in 1902",),
        split="test",
        difficulty=3,
        hops=3,
        gold=Gold(
            pages=(
                title_to_url("Lumen Tower"),
                title_to_url("Orlan Vesk (architect)"),
                title_to_url("Varn Institute of Design"),
            )
        ),
    ),
]


def write_tiny_corpus(directory: Path, pages: list[Page] = PAGES) -> Path:
    """Write the tiny corpus (or a variant of its pages) to ``directory``."""
    return write_corpus(directory, pages, TASKS, {"name": "tiny", "pages": len(pages)})
