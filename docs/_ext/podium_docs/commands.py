"""The ``podium`` commands, read from the command table and the argparse parsers in the code.

``podium.hub.cli.COMMANDS`` names every subcommand; ``parser_for`` gives its parser (``service``
is the traitlets application, whose options are the configuration reference).
"""

from __future__ import annotations

import argparse
import os
import socket

from .markdown import code, table


def _neutral(text: str) -> str:
    """A default computed on the machine that builds the docs, said in general terms."""
    for actual, general in ((os.getcwd(), "."), (socket.gethostname(), "<host>"), (str(os.getpid()), "<pid>")):
        text = text.replace(actual, general)
    return text


def _flag(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(action.option_strings)
        if action.nargs == 0:
            return code(names)
        return code(f"{names} {action.metavar or action.dest.upper()}")
    return code(action.metavar or action.dest)


def _values(action: argparse.Action) -> str:
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        return ", ".join(code(c) for c in action.choices)
    if action.nargs == 0:
        return "flag"
    if action.nargs in ("*", "+"):
        return "any number" if action.nargs == "*" else "one or more"
    return (action.type.__name__ if isinstance(action.type, type) else "text")


def _default(action: argparse.Action) -> str:
    if action.required or action.default in (None, False, argparse.SUPPRESS, []):
        return "required" if action.required else "–"
    return code(_neutral(str(action.default)))


def render_parser(parser: argparse.ArgumentParser, level: int = 3) -> list[str]:
    """Usage, description, a table of arguments, then each subcommand the same way."""
    lines = ["```text", _neutral(parser.format_usage().strip()), "```", ""]
    if parser.description:
        lines += [parser.description, ""]
    rows, subparsers = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            subparsers += [(name, sub, helps.get(name, "")) for name, sub in action.choices.items()]
            continue
        rows.append([_flag(action), _values(action), _default(action), _neutral(action.help or "")])
    if rows:
        lines += table(["argument", "values", "default", "meaning"], rows) + [""]
    if parser.epilog:
        lines += [parser.epilog, ""]
    for _name, sub, text in subparsers:
        lines += [f"{'#' * level} `{sub.prog}`", "", text, ""] + render_parser(sub, level + 1)
    return lines


def _service_section() -> list[str]:
    from podium.server.app import PodiumService

    rows = [[code(f"--{alias}"), code(target)] for alias, target in PodiumService.aliases.items()]
    return ["Every option of the [configuration](configuration.md) is also a command-line option "
            "(`--PodiumService.<option>=value`); these have short names:", "",
            *table(["short name", "option"], rows), ""]


def render() -> str:
    """One section per ``podium`` subcommand, in the order ``podium --help`` lists them."""
    from podium.hub.cli import COMMANDS, parser_for

    lines = ["```text", "podium <command> [options]", "```", "",
             *table(["command", "what it does"], [[code(name), text] for name, (_, text) in COMMANDS.items()]), ""]
    for name, (_, text) in COMMANDS.items():
        lines += [f"## `podium {name}`", "", text, ""]
        parser = parser_for(name)
        if name == "service":
            lines += _service_section()
        elif parser is not None:
            lines += render_parser(parser)
    return "\n".join(lines)
