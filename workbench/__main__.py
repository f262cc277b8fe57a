"""``python -m workbench``: the ``pipebench`` command."""

from workbench.cli.main import entry

if __name__ == "__main__":
    entry()
