"""Organizer-written page content (Markdown or HTML) turned into HTML that is safe to show.

Pages come from notebooks and from imported CodaLab / Codabench bundles, whose pages are HTML;
both are rendered by one path: Markdown (CommonMark with tables, raw HTML allowed so old bundles
keep their markup), then ``nh3`` (the ammonia sanitizer) keeps only harmless tags and
attributes, drops ``<script>``/``<style>`` with their content, event handlers and every URL
scheme but http, https and mailto.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

URL_SCHEMES = {"http", "https", "mailto"}
# nh3's default tag set, plus what competition pages use for layout
EXTRA_TAGS = {"figure", "figcaption", "details", "summary"}



@functools.cache
def _markdown() -> MarkdownIt:
    """The Markdown renderer, built on first use: markdown-it-py and nh3 are imported only when a
    page is rendered, so a service answering the API alone stays small (bench B7)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def render_page_content(text: str | None) -> str:
    """Markdown or HTML from an organizer → sanitized HTML."""
    if not text:
        return ""
    return sanitize_html(_markdown().render(text))


def sanitize_html(html: str) -> str:
    """Keep formatting, links and images; drop scripts, styles, handlers and unsafe URLs."""
    import nh3

    return nh3.clean(
        html,
        tags=nh3.ALLOWED_TAGS | EXTRA_TAGS,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
