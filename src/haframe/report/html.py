"""The report's Markdown tables as standalone HTML pages (what the Snakemake HTML report shows
inline). Only the Markdown these modules write is supported: headings, pipe tables, bullet
lists (one level of nesting) and inline bold, italics and code."""

from __future__ import annotations

import html
import re

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
tr.group td { background: #fafafa; font-style: italic; }
ul { margin: 0.3em 0; }
"""


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"(?<![*\w])\*([^*]+)\*(?![*\w])", r"<em>\1</em>", text)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> list[str]:
    out = ["<table>", "<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in _cells(lines[0])) + "</tr>"]
    for line in lines[2:]:  # lines[1] is the |---| separator
        cells = _cells(line)
        group = all(not c for c in cells[1:]) and cells[0].startswith("*")
        out.append(
            ('<tr class="group">' if group else "<tr>") + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>"
        )
    return out + ["</table>"]


def markdown_to_html(markdown: str, title: str) -> str:
    """A complete HTML page of ``markdown`` (one of this package's tables)."""
    body: list[str] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("|"):
            block = []
            while index < len(lines) and lines[index].startswith("|"):
                block.append(lines[index])
                index += 1
            body += _table(block)
            continue
        if line.lstrip().startswith("- "):
            body.append("<ul>")
            while index < len(lines) and lines[index].lstrip().startswith("- "):
                item = lines[index]
                nested = item.startswith("  ")
                body.append(
                    ('<li style="margin-left:1.5em">' if nested else "<li>") + _inline(item.lstrip()[2:]) + "</li>"
                )
                index += 1
            body.append("</ul>")
            continue
        heading = re.match(r"(#{1,6}) (.*)", line)
        if heading:
            level = len(heading.group(1))
            body.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
        index += 1
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
