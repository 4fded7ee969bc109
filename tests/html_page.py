"""Shared by the report tests: an html.parser view of a page (tags, nesting, sections, images,
URLs, the cells of every table by section) and the checks every report page must pass."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

VOID = {"meta", "img", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """Tags, nesting errors, section ids, images, every URL and table cells of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.sections: list[str] = []
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.tables: dict[str, list[list[list[str]]]] = {}
        """Per section id: its tables, each a list of rows of cell texts (header row first)."""
        self.title = ""
        self._in_title = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if tag == "img":
            self.images.append(a)
        if tag == "table" and self.sections:
            self.tables.setdefault(self.sections[-1], []).append([])
        if tag == "tr" and self.sections and self.sections[-1] in self.tables:
            self.tables[self.sections[-1]][-1].append([])
        if tag in ("td", "th"):
            self._cell = []
        self.urls += [a[k] for k in ("src", "href") if k in a]
        self._in_title = tag == "title"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        self._in_title = False
        if tag in ("td", "th") and self._cell is not None and self.sections:
            self.tables[self.sections[-1]][-1][-1].append("".join(self._cell).strip())
            self._cell = None
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def check_page(text: str, sections: tuple[str, ...], title: str, charts: int) -> Page:
    """Well formed, the sections in order, the title, `charts` inlined PNGs that decode, no
    script and nothing fetched from the network."""
    page = parse(text)
    assert text.startswith("<!DOCTYPE html>")
    assert page.errors == [] and page.stack == []
    assert page.sections == list(sections)
    assert title in page.title
    assert "script" not in page.tags
    imgs = [i for i in page.images if i.get("class") == "chart"]
    assert len(imgs) == len(page.images) == charts
    for img in imgs:
        assert img["alt"]
        head, data = img["src"].split(",", 1)
        assert head == "data:image/png;base64"
        assert base64.b64decode(data, validate=True)[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(u.startswith("data:") or u.startswith("#") for u in page.urls)
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    assert "@media print" in text
    return page


def rows(page: Page, section: str, index: int = 0) -> list[dict[str, str]]:
    """The rows of a section's table as {header: cell}."""
    head, *body = page.tables[section][index]
    return [dict(zip(head, r, strict=True)) for r in body]
