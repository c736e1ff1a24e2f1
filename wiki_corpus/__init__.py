"""The virtual wiki: a generated fictional multi-hop world, a bundled corpus, importers.

>>> import wiki_corpus
>>> corpus = wiki_corpus.load("default")        # pages, tasks and metadata, no regeneration
>>> corpus.tasks_in("dev")[0].question
"""

from wiki_corpus.io import Corpus, CorpusFormatError, load, read_pages, read_tasks, write_corpus
from wiki_corpus.schema import WIKI_PREFIX, Gold, Page, Task, title_to_url, url_to_title

__all__ = [
    "WIKI_PREFIX",
    "Corpus",
    "CorpusFormatError",
    "Gold",
    "Page",
    "Task",
    "load",
    "read_pages",
    "read_tasks",
    "title_to_url",
    "url_to_title",
    "write_corpus",
]
