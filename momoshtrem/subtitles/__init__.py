"""Subtitles: found in a torrent beside its videos, or downloaded; named so players pick them up."""
