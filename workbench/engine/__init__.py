"""The engine: loads, runs and measures pipelines. It never imports Textual or workbench.ui."""
