"""Simplified Chinese uses full-width punctuation: no ASCII , ( ) : ; ? ! beside a Chinese character
in any zh-Hans translation (placeholders, markup, code and URLs aside)."""

import re
from pathlib import Path

import pytest

PO = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
# Not prose: %(name)s placeholders, {var}, HTML tags and <code> spans, `code`, URLs, tokens like http(s).
NOT_PROSE = re.compile(
    r"<code>.*?</code>|%\([^)]*\)[sdif]|%[sd]|\{[^{}]*\}|<[^>]*>|`[^`]*`|https?://\S+|[A-Za-z0-9_]+\([^()\s]*\)"
)
ASCII = ",():;?!"


def translations(text: str) -> list[str]:
    """Every msgstr (plural forms too), joined across its continuation lines."""
    found, current = [], None
    for line in text.splitlines() + [""]:
        if line.startswith("msgstr"):
            current = [line[line.index('"') :]]
        elif line.startswith('"') and current is not None:
            current.append(line)
        elif current is not None:
            found.append("".join(part[1:-1] for part in current).replace('\\"', '"'))
            current = None
    return found


def mistakes(text: str) -> list[str]:
    prose = NOT_PROSE.sub(lambda m: "\0" * len(m.group()), text)
    bad = []
    for i, char in enumerate(prose):
        if char not in ASCII:
            continue
        before = prose[:i].rstrip(" ")[-1:]
        after = prose[i + 1 :].lstrip(" ")[:1]
        if CJK.match(before or "a") or CJK.match(after or "a"):
            bad.append(f"{char!r} at {i}")
    return bad


@pytest.mark.parametrize(
    "text, ok",
    [("余额不足，请充值。", True), ("余额不足,请充值。", False), ("失败(全部)", False), ("用量（%(cur)s）", True),
     ("时间 06:20，共 1,000 次", True), ("<code>event:</code> 与 <code>data:</code> 行", True), ("示例:", False),
     ("确定吊销此密钥?", False), ("HTTP 402: ok", True), ("非 http(s) 地址。", True)],
)  # fmt: skip
def test_the_check_itself(text, ok):
    assert (mistakes(text) == []) is ok


def test_zh_hans_translations_use_full_width_punctuation():
    bad = {text: found for text in translations(PO.read_text(encoding="utf-8")) if (found := mistakes(text))}
    assert not bad, bad
