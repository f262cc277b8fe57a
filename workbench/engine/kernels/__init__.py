"""Kernel sets: each implementation checked against the reference, then timed, in a child."""
