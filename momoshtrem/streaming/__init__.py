"""Streaming: what a player needs next, and the reader that gets it there first."""
