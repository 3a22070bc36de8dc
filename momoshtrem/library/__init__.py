"""The library: what the user owns (movies, shows, episodes) and which torrent file plays each."""
