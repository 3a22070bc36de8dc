"""A downloaded subtitle file as UTF-8, or a clear reason it is not one. Pure.

Subtitles written before UTF-8 was common are in the Windows code page of
their language (cp1252 for French, cp1251 for Russian, ...), and players show
them as mojibake. charset_normalizer detects the encoding; on a short file its
guess among the Latin code pages is unreliable (a cp1252 French file read as
cp1257), so the language's own code page is tried first, and kept only if
charset_normalizer finds the text coherent in it.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

# The Windows code page subtitles of a language were usually saved in before UTF-8.
_LEGACY_CODE_PAGE = {
    language: code_page
    for code_page, languages in {
        "cp1250": "bs cs hr hu pl ro sk sl sq",
        "cp1251": "be bg mk ru sr uk",
        "cp1252": "af ca da de en es eu fi fr ga gl id is it ms nl no nb pt pt-BR pt-PT sv",
        "cp1253": "el",
        "cp1254": "az tr",
        "cp1255": "he",
        "cp1256": "ar fa ur",
        "cp1257": "et lt lv",
        "cp1258": "vi",
    }.items()
    for language in languages.split()
}

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

# What each text format must contain somewhere: a cue timing, a header, an event line.
_FORMAT_SIGNS = {
    ".srt": re.compile(r"\d+:\d{2}:\d{2}[,.]\d+\s*-->"),
    ".vtt": re.compile(r"\A\s*WEBVTT"),
    ".ass": re.compile(r"^\s*(\[Script Info\]|\[Events\]|Dialogue:)", re.MULTILINE | re.IGNORECASE),
    ".ssa": re.compile(r"^\s*(\[Script Info\]|\[Events\]|Dialogue:)", re.MULTILINE | re.IGNORECASE),
    ".sub": re.compile(r"^\{\d+\}\{\d+\}|\[INFORMATION\]", re.MULTILINE),  # MicroDVD or SubViewer
}
TEXT_FORMATS = frozenset(_FORMAT_SIGNS)


class InvalidSubtitle(ValueError):
    """The file is not a text subtitle of its format: the message says what is wrong."""


def to_utf8(data: bytes, extension: str, language: str | None = None) -> tuple[bytes, str]:
    """(the file as UTF-8 without a byte-order mark, the encoding it was in)."""
    extension = extension.lower()
    if extension not in _FORMAT_SIGNS:
        raise InvalidSubtitle(f"'{extension or 'no extension'}' is not a text subtitle format "
                              f"({', '.join(sorted(_FORMAT_SIGNS))})")
    if not data.strip():
        raise InvalidSubtitle("the file is empty")
    text, encoding = _decode(data, language)
    if "\x00" in text:
        raise InvalidSubtitle("the file holds binary data, not text")
    if not _FORMAT_SIGNS[extension].search(text):
        raise InvalidSubtitle(f"the file does not look like a {extension} subtitle (no cues in it)")
    return text.encode("utf-8"), encoding


def _decode(data: bytes, language: str | None) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding).lstrip("\ufeff"), encoding
            except UnicodeDecodeError:
                raise InvalidSubtitle(f"the file starts with a {encoding} byte-order mark but is not {encoding}") from None
    if b"\x00" in data:  # text in a legacy encoding or UTF-8 has no NUL byte; UTF-16 without a BOM is not met
        raise InvalidSubtitle("the file holds binary data, not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    code_page = _LEGACY_CODE_PAGE.get(language or "")
    if code_page:
        match = charset_normalizer.from_bytes(data, cp_isolation=[code_page]).best()
        if match is not None:
            return str(match), match.encoding
    match = charset_normalizer.from_bytes(data).best()
    if match is None:
        raise InvalidSubtitle("the file's text encoding could not be recognised")
    return str(match), match.encoding
