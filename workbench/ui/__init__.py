"""The Textual workbench: shows runs of the engine live; the engine never imports it."""
