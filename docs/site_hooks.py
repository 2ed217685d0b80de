"""MkDocs hooks for the site (mkdocs.yml `hooks:`): pages that load nothing from the network.

mkdocs-jupyter puts a script tag for MathJax from a CDN into every notebook page. The course's
formulas are MathML by then (docs/build_site.py), so the tag and its configuration go; and
every page is checked for any other script, stylesheet, picture or frame from the network,
which would fail the build naming the page.
"""

from __future__ import annotations

import re
from typing import Any

MATHJAX = re.compile(
    r"<script[^>]*src=\"https://[^\"]*mathjax[^\"]*\"[^>]*>\s*</script>"
    r"|<!-- Load mathjax -->|<script type=\"text/x-mathjax-config\">.*?</script>"
    r"|<!-- MathJax configuration -->|<!-- End of mathjax configuration -->",
    re.S,
)
REMOTE = re.compile(
    r"<(?:script|img|iframe|source|link)\b[^>]*(?:src|href)=\"(?:https?:)?//[^\"]+\"[^>]*>"
)
FETCHED_LINK = re.compile(r'rel="(stylesheet|preload|modulepreload|icon)"')


# mkdocs-jupyter's copy buttons keep a second copy of each cell's code and a "Copied!" notice:
# search should find the code once, and never the notice
COPY_ONLY = re.compile(r'<((?:div|span)\b[^>]*\bclass="(?:clipboard-copy-txt|notice)"[^>]*)>')


def on_page_content(html: str, page: Any, **_: Any) -> str:
    html = MATHJAX.sub("", html)
    return COPY_ONLY.sub(lambda m: f"<{m.group(1)} data-search-exclude>", html)


def on_post_page(output: str, page: Any, **_: Any) -> str:
    remote = [tag for tag in REMOTE.findall(output) if not _is_plain_link(tag)]
    if remote:
        raise ValueError(f"{page.file.src_uri} loads from the network: {remote[0][:200]}")
    return output


def _is_plain_link(tag: str) -> bool:
    # <link rel="canonical"> and the like are addresses, not resources the page fetches
    return tag.startswith("<link") and not FETCHED_LINK.search(tag)
