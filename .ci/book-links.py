#!/usr/bin/env python3
"""Checks the built book: every relative link and anchor of every HTML page resolves, and
every markdown page under the book's src/ is in SUMMARY.md (mdBook builds only those).

Usage: python3 .ci/book-links.py BOOK_DIR   (the directory holding book.toml, built)
Exits 1 and lists each problem when there is one. Standard library only.
"""
import html.parser
import os
import re
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    """The ids and the links of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name" if tag == "a" else None):
            if key and a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) is not None and tag != "base":
                self.links.append((tag, a[key]))


def main(book):
    out = os.path.join(book, "book")
    src = os.path.join(book, "src")
    problems = []

    pages = {}
    for dirpath, _, files in os.walk(out):
        for f in files:
            if f.endswith(".html"):
                path = os.path.join(dirpath, f)
                p = Page()
                with open(path, encoding="utf-8") as fh:
                    p.feed(fh.read())
                pages[os.path.normpath(path)] = p
    if not pages:
        problems.append(f"no HTML under {out}: build the book first (mdbook build {book})")

    checked = 0
    for path, page in sorted(pages.items()):
        for tag, link in page.links:
            url = urllib.parse.urlsplit(link)
            if url.scheme or link.startswith("//"):
                continue  # external: not checked here
            if url.path:
                target = os.path.normpath(os.path.join(os.path.dirname(path), urllib.parse.unquote(url.path)))
                if url.path.endswith("/") or os.path.isdir(target):
                    target = os.path.join(target, "index.html")
            else:
                target = path
            checked += 1
            where = os.path.relpath(path, out)
            if not os.path.exists(target):
                problems.append(f"{where}: <{tag}> {link}: no {os.path.relpath(target, out)}")
                continue
            if url.fragment and target.endswith(".html"):
                ids = pages.get(target, Page()).ids
                if urllib.parse.unquote(url.fragment) not in ids:
                    problems.append(f"{where}: {link}: no id #{url.fragment} in {os.path.relpath(target, out)}")

    # mdBook builds only the pages SUMMARY.md names: any other page would be lost.
    with open(os.path.join(src, "SUMMARY.md"), encoding="utf-8") as fh:
        listed = {os.path.normpath(m) for m in re.findall(r"\]\(([^)#]+\.md)\)", fh.read())}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if f.endswith(".md") and f != "SUMMARY.md":
                rel = os.path.normpath(os.path.relpath(os.path.join(dirpath, f), src))
                if rel not in listed:
                    problems.append(f"src/{rel}: not in SUMMARY.md, so not in the book")

    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} broken link(s) or page(s) missing from the book", file=sys.stderr)
        return 1
    print(f"book links: {checked} internal links in {len(pages)} pages resolve; every page is in SUMMARY.md")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
