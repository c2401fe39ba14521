"""Every configuration option of the service, read from the traitlets of ``PodiumService``.

Name, type, default, the environment variable its default reads (found in the source of the
trait's ``@default`` method) and the help text: a new trait appears here without a hand edit.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Any

from traitlets import TraitType, Type
from traitlets.traitlets import DefaultHandler

from .markdown import code

ENV_NAME = re.compile(r"^(PODIUM|JUPYTERHUB)_[A-Z0-9_]+$")


def default_handlers(cls: type) -> dict[str, Any]:
    """trait name → the ``@default`` method computing it, nearest class first."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        for value in vars(klass).values():
            if isinstance(value, DefaultHandler):
                found.setdefault(value.trait_name, value.func)
    return found


def environment_variables(func: Any) -> list[str]:
    """The ``PODIUM_*`` / ``JUPYTERHUB_*`` names a default method mentions, in order."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    names = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.match(node.value)]
    return list(dict.fromkeys(names))


def type_name(trait: TraitType) -> str:
    if isinstance(trait, Type):
        klass = trait.klass if isinstance(trait.klass, str) else f"{trait.klass.__module__}.{trait.klass.__name__}"
        return f"Type (a subclass of `{klass}`)"
    return type(trait).__name__


def _default(trait: TraitType, dynamic: bool) -> str:
    if dynamic:
        return "computed (see the meaning)"
    return code(trait.default_value_repr())


def render_class(cls: type, cli_names: dict[str, str]) -> str:
    """One section per configurable trait of ``cls``: its own first, then the inherited ones."""
    dynamic = default_handlers(cls)
    own = cls.class_own_traits(config=True)
    traits = sorted(cls.class_traits(config=True).items(), key=lambda item: (item[0] not in own, item[0]))
    inherited_started = False
    sections: list[str] = [f"## Options of {code(cls.__name__)}", ""]
    for name, trait in traits:
        if name not in own and not inherited_started:
            inherited_started = True
            sections += [f"## Inherited from {code('traitlets.config.Application')}", ""]
        env = environment_variables(dynamic[name]) if name in dynamic else []
        rows = [
            ["type", type_name(trait)],
            ["default", _default(trait, name in dynamic)],
            ["environment", ", ".join(code(e) for e in env) or "–"],
            ["config file", code(f"c.{cls.__name__}.{name} = ...")],
            ["command line", code(f"--{cli_names[name]}=...") if name in cli_names
             else code(f"--{cls.__name__}.{name}=...")],
        ]
        sections += [f"### `{name}`", "", (trait.help or "").strip() or "(no help text)", "",
                     *(f"- **{label}**: {value}" for label, value in rows), ""]
    return "\n".join(sections)


def render() -> str:
    """The options of ``PodiumService`` and of the storage backends it configures (``classes``),
    as ``podium service --help-all`` knows them."""
    from podium.server.app import PodiumService

    aliases = {target.split(".", 1)[1]: alias for alias, target in PodiumService.aliases.items()
               if isinstance(target, str) and target.startswith("PodiumService.")}
    return "\n".join([render_class(PodiumService, aliases),
                      *(render_class(cls, {}) for cls in PodiumService.classes if cls is not PodiumService)])
