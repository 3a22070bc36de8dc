"""The probe store: each assigned video's header, index and end on local disk, so a player's probe needs no swarm."""
