"""The panels of the main screen, each a small widget fed from a ``RunUpdated`` message."""
