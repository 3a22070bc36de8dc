"""Language codes as the share names them: ISO 639-1 (`en`), and the regional ones OpenSubtitles uses (`pt-BR`). Pure."""

from __future__ import annotations

from babelfish import Error as LanguageError
from babelfish import Language

# OpenSubtitles tells these apart; players read them from `Movie.pt-BR.srt` too.
REGIONAL = {"pt-br": "pt-BR", "pt-pt": "pt-PT", "zh-cn": "zh-CN", "zh-tw": "zh-TW"}


def normalise_language(code: str) -> str:
    """`EN` -> `en`, `pt-br` -> `pt-BR`; ValueError for anything else (`eng`, `xx`, `english`)."""
    text = code.strip().lower() if isinstance(code, str) else ""
    if text in REGIONAL:
        return REGIONAL[text]
    if len(text) == 2:
        try:
            Language.fromalpha2(text)
            return text
        except (LanguageError, ValueError, KeyError):
            pass
    raise ValueError(f"'{code}' is not an ISO 639-1 language code (like en, fr, pt-BR)")


def is_language_code(code: str) -> bool:
    try:
        normalise_language(code)
        return True
    except ValueError:
        return False
