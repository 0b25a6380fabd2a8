"""The Choice text API's answer (``GetNewsText.do?id=<infoCode>``) -> the body and its fields.

``text`` is the body HTML, byte for byte what the existing archive's posts
hold; ``content`` the plain text (paragraphs start with "　　").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crawler.eastmoney.answers import field_text, loads_answer
from crawler.eastmoney.ids import valid_show_time


@dataclass
class ChoiceText:
    text: str = ""  # body HTML
    content: str = ""  # plain text, paragraphs start with "　　"
    title: str = ""
    published: str = ""
    media: str = ""


def choice_document(doc: Any) -> Any:
    """The object holding the fields: some answers wrap them in ``data``
    (inferred); both are accepted."""
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict) and "text" not in doc:
        return doc["data"]
    return doc


def parse_choice_text(text: str, url: str = "") -> tuple[ChoiceText | None, str]:
    """GetNewsText.do answer -> (fields, "") or (None, reason); empty ``text`` is a reason."""
    try:
        doc = loads_answer(text)
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(doc, dict):
        return None, "answer is not an object"
    doc = choice_document(doc)
    if "text" not in doc and "code" in doc:
        # {"code":0,"message":"非法请求"}: refused, not empty (the browser may get it).
        message = field_text(doc.get("message"))
        return None, f"Choice text refused: code {doc.get('code')!r} {message}"
    show_time = field_text(doc.get("showTime"))
    result = ChoiceText(
        text=field_text(doc.get("text")),
        content=field_text(doc.get("content")),
        title=field_text(doc.get("title")),
        published=show_time if valid_show_time(show_time) else "",
        media=field_text(doc.get("mediaName")),
    )
    if not result.text.strip():
        return None, "empty Choice text"
    return result, ""
