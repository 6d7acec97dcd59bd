"""gan_lib.tables: Markdown tables for the book's glued cells."""

import pytest

from gan_lib.tables import markdown_table


def test_markdown_table_layout_and_default_alignment():
    table = markdown_table(["case", "error"], [["a", "0.01"], ["b", 2]])
    assert table.splitlines() == ["| case | error |", "| :-- | --: |", "| a | 0.01 |", "| b | 2 |"]
    assert markdown_table(["x", "y", "z"], [], align="lcr").splitlines()[1] == "| :-- | :-: | --: |"


def test_markdown_table_rejects_ragged_rows_bad_alignment_and_pipes():
    with pytest.raises(ValueError, match="row 1 has 1 cells"):
        markdown_table(["a", "b"], [["1", "2"], ["3"]])
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a", "b"], [], align="lx")
    with pytest.raises(ValueError, match=r"'\|'"):
        markdown_table(["a"], [["$|x|$"]])
