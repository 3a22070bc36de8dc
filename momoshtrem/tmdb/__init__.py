"""TMDB: titles, years and episode lists for the library."""
