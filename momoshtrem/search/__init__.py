"""Finding releases for library items on the user's Torznab indexers (Jackett, Prowlarr)."""
