"""Taguette's document HTML as plain text, with its highlight offsets mapped.

Taguette keeps each document as sanitised HTML and counts highlight offsets in
UTF-8 bytes of the document's text nodes, tags left out and entities decoded
(``taguette/extract.py``: ``find_pos`` sums ``len(node.string.encode('utf-8'))``
over BeautifulSoup strings, comments included; ``split_utf8`` moves an offset
that falls inside a character to the end of that character).
"""

from __future__ import annotations

from bisect import bisect_left
from html.parser import HTMLParser

_BLOCKS = frozenset(
    "address article aside blockquote dd div dl dt figcaption figure footer h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section table td th tr ul".split()
)


class HtmlText(HTMLParser):
    """Plain text of an HTML document, LF-only, plus its byte-offset map.

    Characters from text nodes are "real": they carry a UTF-8 byte offset. A
    newline is added (not counted in offsets) at ``<br>`` and at the start of a
    block element when the text does not already end a line there, so paragraphs
    stay apart; CRLF becomes LF.
    """

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self._chars: list[str] = []
        self._real_index: list[int] = []  # text index of each real character
        self._real_bytes: list[int] = []  # its UTF-8 byte offset in Taguette's count
        self.byte_length = 0
        self._after_cr = False
        self.feed(html)
        self.close()
        self.text = "".join(self._chars)

    def _added_newline(self) -> None:
        self._chars.append("\n")
        self._after_cr = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._after_cr = False
        if tag == "br":
            self._added_newline()
        elif tag in _BLOCKS and self._chars and self._chars[-1] != "\n":
            self._added_newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self._after_cr = False

    def handle_comment(self, data: str) -> None:
        self.byte_length += len(data.encode("utf-8"))  # counted by Taguette, not shown

    def handle_data(self, data: str) -> None:
        for char in data:
            size = len(char.encode("utf-8"))
            if char == "\n" and self._after_cr:  # LF of a CRLF: counted, not shown
                self.byte_length += size
                self._after_cr = False
                continue
            self._after_cr = char == "\r"
            self._real_index.append(len(self._chars))
            self._real_bytes.append(self.byte_length)
            self._chars.append("\n" if char == "\r" else char)
            self.byte_length += size

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """Taguette's (start, end) byte offsets as code points of ``text``; None if outside."""
        if not 0 <= start <= end <= self.byte_length:
            return None
        k = bisect_left(self._real_bytes, start)
        first = self._real_index[k] if k < len(self._real_index) else len(self.text)
        k = bisect_left(self._real_bytes, end)
        last = self._real_index[k - 1] + 1 if k else 0
        return first, max(first, last)
