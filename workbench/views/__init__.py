"""Rich renderables of engine state, shared by the headless CLI and the TUI (no Textual)."""
