"""Article bodies: Markdown or HTML in, sanitised HTML and plain text out; slugs and tags."""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

from zabota.kb.models import BodyFormat

_BLOCK_END = re.compile(r"</(p|h[1-6]|li|tr|blockquote|pre|div|table|ul|ol)>|<br\s*/?>", re.I)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
     "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"],
    strict=True))
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 120
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
# What an article may contain: nh3's defaults (text, lists, tables, images, code) and ids on
# headings, so a long article can link to its own sections.
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
               "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "td": {"colspan", "rowspan"},
               "th": {"colspan", "rowspan", "scope"}, "code": {"class"}, "ol": {"start"}}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # Raw HTML inside Markdown is shown as text, not passed on: authors who need HTML say so.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"])


def clean_html(raw: str) -> str:
    return nh3.clean(raw, attributes=_ATTRIBUTES, link_rel="noopener noreferrer",
                     url_schemes={"http", "https", "mailto", "tel"})


def render(source: str, body_format: BodyFormat) -> tuple[str, str]:
    """Safe HTML and plain text of an article body."""
    raw = _markdown().render(source) if body_format == BodyFormat.MARKDOWN else source
    safe = clean_html(raw)
    return safe, plain_text(safe)


def plain_text(safe_html: str) -> str:
    text = _BLOCK_END.sub(lambda m: m.group(0) + "\n", safe_html)
    text = html.unescape(nh3.clean(text, tags=set()))
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def excerpt(text: str, limit: int = 300) -> str:
    """The opening of a text, cut at a word boundary: for link previews and inserted answers."""
    paragraph = " ".join(text.split())
    if len(paragraph) <= limit:
        return paragraph
    cut = paragraph[:limit].rsplit(" ", 1)[0].rstrip(",;:—-")
    return cut + "…"


def slugify(text: str) -> str:
    """A readable ASCII slug: Russian is transliterated, everything else becomes dashes."""
    lowered = text.lower()
    latin = "".join(_TRANSLIT.get(ch, ch) for ch in lowered)
    slug = _NOT_SLUG.sub("-", latin).strip("-")
    return slug[:MAX_SLUG].rstrip("-")


def clean_tags(tags: list[str]) -> list[str]:
    """Lower-case, trimmed, unique tags in the order given."""
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = " ".join(tag.lower().split())[:MAX_TAG_LENGTH]
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)[:MAX_TAGS]


def split_tags(text: str) -> list[str]:
    """Tags as typed into one field, separated by commas."""
    return clean_tags(text.split(","))
