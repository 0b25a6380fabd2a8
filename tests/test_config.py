"""crawler.config.parse_column_ids: the one parser of column id lists
(``FINEWS_COLUMNS`` and the columns spider's ``-a columns``)."""

from __future__ import annotations

import pytest

from crawler.config import ConfigError, parse_column_ids


def test_comma_list_with_blanks_and_empty_parts() -> None:
    assert parse_column_ids(" 351, 353,,344 ", "FINEWS_COLUMNS") == [351, 353, 344]


def test_list_and_tuple() -> None:
    assert parse_column_ids([351, "353"], "FINEWS_COLUMNS") == [351, 353]
    assert parse_column_ids((345,), "-a columns") == [345]


@pytest.mark.parametrize("value", ["351,x", "3.5", ["a"]])
def test_not_a_number_names_its_source(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^-a columns must be a comma list"):
        parse_column_ids(value, "-a columns")


@pytest.mark.parametrize("value", ["", " , ", []])
def test_empty_names_its_source(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^FINEWS_COLUMNS is empty$"):
        parse_column_ids(value, "FINEWS_COLUMNS")
