"""The parsed insight page the unit and the browser tests read: start tags with their
attributes, the figure around each top-level svg, the text."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """Start tags with their attributes, and which figure each svg sits in."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.svg_in: list[str] = []  # the data-name of the figure around each top-level svg
        self.figure: str | None = None
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "figure":
            self.figure = attributes.get("data-name")
        elif tag == "svg" and self.figure is not None:
            self.svg_in.append(self.figure)
            self.figure = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and cls in a.get("class", "").split()]
