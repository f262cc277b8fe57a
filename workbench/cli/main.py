"""The ``pipebench`` command: the top parser, the registry of subcommands, and dispatch.

With no command (or a path) it opens the workbench (TUI); each subcommand lives in its own
module (``workbench.cli.<name>``) with ``add_parser(subparsers)`` and one entry function.
Exit codes: 0 the run finished (or reached its limit), 1 it failed, crashed or passed its
memory budget, 2 bad input (one line on stderr), 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from workbench.errors import UserError

if TYPE_CHECKING:  # Rich is imported after a command's `begin` (see `main`)
    from rich.console import Console


class Command(NamedTuple):
    """One subcommand: how it adds its parser, and the function that carries it out.

    ``begin``, where a command has one, is called with the parsed arguments before Rich and
    the views are imported, and what it returns is passed to ``run`` as a third argument:
    ``run`` starts its run there (the runner ``PRESTART`` spawned gets it), so that the run
    goes on while the rest of pipebench is imported.
    """

    add_parser: Callable[[Any], argparse.ArgumentParser]
    run: Callable[..., int]  # (args, console[, what begin returned]) -> exit code
    begin: Callable[[argparse.Namespace], Any] | None = None


# Each subcommand's module is imported when it is used (a real import, in a function): a
# `pipebench run` does not pay for importing the kernels, lines and sweep tools.
def _list() -> Command:
    from workbench.cli import list as m

    return Command(m.add_parser, m.cmd_list)


def _run() -> Command:
    from workbench.cli import run as m

    return Command(m.add_parser, m.cmd_run, m.begin_run)


def _kernels() -> Command:
    from workbench.cli import kernels as m

    return Command(m.add_parser, m.cmd_kernels)


def _lines() -> Command:
    from workbench.cli import lines as m

    return Command(m.add_parser, m.cmd_lines)


def _sweep() -> Command:
    from workbench.cli import sweep as m

    return Command(m.add_parser, m.cmd_sweep)


def _history() -> Command:
    from workbench.cli import history as m

    return Command(m.add_parser, m.cmd_history)


def _compare() -> Command:
    from workbench.cli import compare as m

    return Command(m.add_parser, m.cmd_compare)


def _table() -> Command:
    from workbench.cli import table as m

    return Command(m.add_parser, m.cmd_table)


#: Every subcommand, in the order ``pipebench --help`` lists them.
COMMANDS: dict[str, Callable[[], Command]] = {
    "list": _list,
    "run": _run,
    "kernels": _kernels,
    "lines": _lines,
    "sweep": _sweep,
    "history": _history,
    "compare": _compare,
    "table": _table,
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "-5GiB" and "-inf" are (bad) values, not unknown options (Python 3.13's rule, and
        # -inf/-nan), so the type says what is wrong instead of "expected one argument".
        self._negative_number_matcher = re.compile(r"^-(?:\.?\d|inf|nan)", re.IGNORECASE)

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


class _Version(argparse.Action):
    """``--version``, worked out only when asked for (it looks for the C probe)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from workbench.cli.version import version_line

        print(version_line())
        parser.exit()


class _Completion(argparse.Action):
    """``--print-completion SHELL``: shtab's script for the whole parser (shtab, and every
    subcommand's module, imported only then)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, shell: Any,
                 option: str | None = None) -> NoReturn:  # fmt: skip
        import shtab

        full = build_parser()
        for sub in full._subparsers._group_actions if full._subparsers else ():  # noqa: SLF001
            for p in getattr(sub, "choices", {}).values():
                for action in p._actions:
                    if not action.option_strings:  # targets, paths and report files
                        action.complete = shtab.FILE  # type: ignore[attr-defined]
        print(shtab.complete(full, shell=str(shell)))
        parser.exit()


#: A first argument that reads as a command name rather than a path.
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def unknown_command(word: str) -> str:
    """The one line for a first argument that is neither a command nor an existing path."""
    import difflib

    near = difflib.get_close_matches(word, COMMANDS, n=1)
    hint = f"did you mean {near[0]!r}?" if near else f"commands: {', '.join(COMMANDS)}"
    return f"pipebench: unknown command or path {word!r}; {hint}"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` that one (what a command line that
    names it needs: the others' modules are then not imported)."""
    parser = _Parser(
        prog="pipebench",
        description=(
            "A terminal workbench for ML data pipelines. With no command, opens the workbench "
            "on PATH (default ./pipelines, else the bundled examples)."
        ),
    )
    parser.add_argument(
        "--version",
        action=_Version,
        help="print the pipebench and Python versions and which stage probe runs use",
    )
    parser.add_argument(
        "--print-completion",
        action=_Completion,
        choices=("bash", "zsh", "tcsh"),
        help="print a completion script for bash, zsh or tcsh",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, command in COMMANDS.items():
        if only is not None and name != only:
            continue
        command().add_parser(sub)
    return parser


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


#: Commands whose runner child is spawned first thing (``engine.spawn.prestart``): it boots
#: while the command line is parsed and checked and the rest of pipebench is imported.
PRESTART = ("run",)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    only = argv[0] if argv and argv[0] in COMMANDS else None
    if only in PRESTART:
        from workbench.engine.spawn import prestart

        with contextlib.suppress(OSError):  # then the run spawns its own, and says why not
            prestart()
    from workbench.cli.args import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, json_to_stdout

    try:
        if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
            if _WORD.fullmatch(argv[0]) and not Path(argv[0]).exists():
                raise UserError(unknown_command(argv[0]))
            if len(argv) > 1:
                raise UserError(
                    f"pipebench: unexpected {' '.join(argv[1:])!r}; "
                    "usage: pipebench [PATH] or pipebench COMMAND ..."
                )
            from workbench.cli.tui import cmd_workbench

            return cmd_workbench(argv[0], _console())
        args = build_parser(only).parse_args(argv)
        if args.command is None:
            from workbench.cli.tui import cmd_workbench

            return cmd_workbench(None, _console())
        command = COMMANDS[args.command]()
        begun = () if command.begin is None else (command.begin(args),)
        # `--json -`: stdout is the report's alone
        return command.run(args, _console(stderr=json_to_stdout(args)), *begun)
    except UserError as exc:
        from rich.text import Text

        from workbench.views.text import user_text

        _console(stderr=True).print(
            Text.assemble(("error:", "red"), " ", user_text(exc.message)), soft_wrap=True
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os._exit(EXIT_OK)  # `pipebench list | head`
    finally:
        if only in PRESTART:  # the command failed before its run took the runner
            from workbench.engine.spawn import discard_prestarted

            discard_prestarted()


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
