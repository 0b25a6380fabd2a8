"""Datasette plugin: a request that asks for what is not there is the asker's error.

Datasette 0.65 answers ``/finews/articles?_sort=nosuch`` (or ``_sort_desc``)
with a 500, as if the server had failed; the request named a column the table
does not have, so the answer is a 400 with Datasette's message ("Cannot sort
table by nosuch"), in the error page or JSON as usual.
"""

from __future__ import annotations

from typing import Any

from datasette import hookimpl
from datasette.views.base import DatasetteError

#: Datasette's messages for a request naming what the table does not have.
CLIENT_ERRORS = ("Cannot sort table by ",)


@hookimpl(tryfirst=True)
def handle_exception(datasette: Any, request: Any, exception: BaseException) -> None:
    if (
        isinstance(exception, DatasetteError)
        and exception.status == 500
        and str(exception.message).startswith(CLIENT_ERRORS)
    ):
        exception.status = 400  # then Datasette's own error page, with this status
