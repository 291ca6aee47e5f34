"""The pieces of every self-contained HTML page of the report: the page (inline style and a few
lines of inline script, nothing fetched: the pages open offline), sortable tables, embedded
figures and the provenance footer.

A table is sortable by clicking a column heading (numbers by value, text by name; the last row
of a table marked ``data-keep-last`` stays last: the p-value row). Bold in a cell is written
``**like this**`` in the grids and becomes ``<b>``.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Sequence

STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
         "color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}"
         "td,th{border:1px solid #ccc;padding:3px 8px;text-align:center}"
         "td:first-child,th:first-child{text-align:left}"
         "th{background:#f3f3f3;cursor:pointer;user-select:none}"
         "th[aria-sort=ascending]::after{content:' \\25B2'}"
         "th[aria-sort=descending]::after{content:' \\25BC'}"
         "img{max-width:100%}figure{margin:1em 0}figcaption{font-size:90%;color:#555}"
         "footer{margin-top:2em;color:#666;font-size:80%}nav a{margin-right:1em}li{margin:.35em 0}")

#: Click a heading to sort its table by that column (again: the other way).
SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var kept = table.dataset.keepLast ? rows.pop() : null;
      var up = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      var key = function (row) {
        var text = row.cells[col] ? row.cells[col].textContent.trim() : '';
        var n = parseFloat(text);
        return isNaN(n) ? text : n;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0)
                                        : (typeof x === 'number' ? -1 : 1);
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      if (kept) { body.appendChild(kept); }
    });
  });
});
"""


def inline(text: str) -> str:
    """``text`` escaped, with ``**bold**`` as ``<b>`` and `` `code` `` as ``<code>``."""
    body = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))
    return re.sub(r"`(.+?)`", r"<code>\1</code>", body)


def table(grid: Sequence[Sequence[str]], keep_last: bool = False) -> str:
    """A sortable table of ``grid`` (its first row the header); ``keep_last`` keeps the last row
    (a p-value or summary row) last when sorting."""
    head = "".join(f"<th>{inline(c)}</th>" for c in grid[0])
    rows = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>"
                   for row in grid[1:])
    keep = ' data-keep-last="1"' if keep_last else ""
    return (f'<table class="sortable"{keep}><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def figure(title: str, png: bytes) -> str:
    """The PNG ``png`` embedded as a data URI, captioned ``title``."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}"/>'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


def paragraphs(lines: Sequence[str]) -> str:
    """Each line a paragraph (``inline`` markup)."""
    return "".join(f"<p>{inline(line)}</p>" for line in lines if line)


def page(title: str, body: Sequence[str], provenance: Sequence[str]) -> str:
    """A whole self-contained page: ``body`` (HTML parts), then the provenance lines once."""
    footer = "<footer>" + "<br/>".join(html.escape(line) for line in provenance) + "</footer>"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(body)}{footer}<script>{SORT_SCRIPT}</script></body></html>\n")


def from_markdown(lines: Sequence[str]) -> str:
    """The report's own Markdown sections (``### heading``, ``- item`` lists, ``| a | b |``
    tables, paragraphs) as HTML; a Markdown table becomes a sortable table."""
    parts: list[str] = []
    rows: list[list[str]] = []
    items: list[str] = []

    def flush() -> None:
        if rows:
            parts.append(table([rows[0], *rows[2:]]))
            rows.clear()
        if items:
            parts.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in lines:
        if line.startswith("|"):
            rows.append([c.strip().replace("\\|", "|")
                         for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
            continue
        if line.startswith("- "):
            items.append(line[2:])
            continue
        flush()
        if line.startswith("#"):
            level = min(6, len(line) - len(line.lstrip("#")))
            parts.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            parts.append(f"<p>{inline(line)}</p>")
    flush()
    return "".join(parts)
