"""The header a dashboard page shows above each metric it renders: a tile's label, or the header of the
table column a `data-metric` cell sits in."""

from __future__ import annotations

from html.parser import HTMLParser


class _Headers(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pairs: list[tuple[str, str]] = []
        self._text: list[str] | None = None  # the text of the <th> or tile label being read
        self._tile_label = ""
        self._columns: list[str] = []  # the current table's headers
        self._column = -1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes, metric = (attributes.get("class") or "").split(), attributes.get("data-metric")
        if tag == "table":
            self._columns = []
        elif tag == "tr":
            self._column = -1
        elif tag == "th" or (tag == "div" and "k" in classes):
            self._text = []
        elif tag == "td":
            self._column += 1
            if metric:
                assert self._column < len(self._columns), f"no header above the {metric} column"
                self.pairs.append((metric, self._columns[self._column]))
        elif tag == "div" and "v" in classes and metric:
            self.pairs.append((metric, self._tile_label))

    def handle_endtag(self, tag: str) -> None:
        if self._text is None or tag not in ("th", "div"):
            return
        text = " ".join("".join(self._text).split())
        if tag == "th":
            self._columns.append(text)
        else:
            self._tile_label = text
        self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def metric_headers(page: str) -> list[tuple[str, str]]:
    """(metric, header) for every tile and every table cell of a page that carries `data-metric`."""
    parser = _Headers()
    parser.feed(page)
    parser.close()
    return parser.pairs
