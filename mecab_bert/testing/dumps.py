# Copyright 2026 The mecab-bert Authors. Apache License 2.0.
"""MediaWiki dumps as Wikimedia writes them, built page by page: what the tests and benchmarks of the dump reader
make their dumps with."""

from __future__ import annotations

import html

SITEINFO = """\
<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="ko">
  <siteinfo>
    <sitename>위키백과</sitename>
    <dbname>kowiki</dbname>
    <base>https://ko.wikipedia.org/wiki/%EB%8C%80%EB%AC%B8</base>
    <case>first-letter</case>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="4" case="first-letter">위키백과</namespace>
      <namespace key="10" case="first-letter">틀</namespace>
      <namespace key="14" case="first-letter">분류</namespace>
      <namespace key="828" case="first-letter">모듈</namespace>
    </namespaces>
  </siteinfo>
"""


def page_xml(page_id: int, title: str, text: str, ns: int = 0, redirect: str | None = None) -> str:
    """One <page> of a dump, laid out as Wikimedia lays it out (one tag a line, the text escaped)."""
    redirect_tag = f'    <redirect title="{html.escape(redirect)}" />\n' if redirect else ""
    body = (f'      <text bytes="{len(text.encode())}" xml:space="preserve">{html.escape(text, quote=False)}</text>\n'
            if text else '      <text bytes="0" />\n')
    return (f"  <page>\n    <title>{html.escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n"
            f"{redirect_tag}    <revision>\n      <id>{page_id}00</id>\n      <model>wikitext</model>\n"
            f"{body}    </revision>\n  </page>\n")
