"""pipebench's bundled example pipelines (installed as ``workbench.examples``).

Each module makes its own data, deterministically, the first time it runs.
"""
