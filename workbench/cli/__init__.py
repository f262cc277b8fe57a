"""The ``pipebench`` command: one module per subcommand, each following runs through
``workbench.engine.follow``."""
