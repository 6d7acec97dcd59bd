"""Sphinx extension: the References page labels its entries by author and year ("Goodfellow et al., 2014"), exactly
as the chapters cite them, instead of pybtex's numbers or alphabetic codes; entries sort by author, year and title."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from string import ascii_lowercase

import pybtex.plugin
from pybtex.database import Entry
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinxcontrib.bibtex.style.referencing import PersonStyle
from sphinxcontrib.bibtex.style.template import author_or_editor_or_title, join, year

#: The names of the authors as `{cite:p}` writes them (sphinxcontrib-bibtex's author_year style), but as plain text.
_PERSONS = PersonStyle(other=" et al.")


@dataclass
class _Context:
    person: PersonStyle


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Lin, 1991", "Boyd and Vandenberghe, 2004", "Goodfellow et al., 2014"; "2013a", "2013b" if two clash."""

    def format_labels(self, sorted_entries: Iterable[Entry]) -> Iterator[str]:
        template = join(sep=", ")[author_or_editor_or_title(sep=_PERSONS.sep, sep2=_PERSONS.sep2,
                                                            last_sep=_PERSONS.last_sep, other=_PERSONS.other), year]
        labels = [template.format_data({"entry": e, "style": _Context(_PERSONS)}).render_as("text") for e in sorted_entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                label += ascii_lowercase[seen[label] - 1]
            yield label


class AuthorYearStyle(PlainStyle):
    """Pybtex's plain entry format, sorted by author, year and title, with author-year labels."""

    default_label_style = "author_year"
    default_sorting_style = "author_year_title"


def setup(app: Sphinx) -> dict[str, bool]:
    pybtex.plugin.register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle)
    pybtex.plugin.register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
