"""esptool v4 spellings (write_flash, --flash_mode, default_reset) read as their v5 forms.

One rule covers every name: a v4 spelling is the v5 name with '_' where v5 has '-'. Options
renamed outright in v5 list their old names as `legacy_names` on the click option. Each use is
remembered and reported once, on one line, when the command starts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import click

_NOTES_KEY = "espforge.v4_spellings"


def note_v4_spelling(ctx: click.Context | None, old: str, new: str) -> None:
    if ctx is None:
        return
    notes = ctx.find_root().meta.setdefault(_NOTES_KEY, [])
    if (old, new) not in notes:
        notes.append((old, new))


def take_v4_notes(ctx: click.Context) -> str | None:
    """The one-line report of the v4 spellings this command line used, if any."""
    notes = ctx.find_root().meta.pop(_NOTES_KEY, [])
    if not notes:
        return None
    readings = ", ".join(f"{old} -> {new}" for old, new in notes)
    return f"Note: read esptool v4 spellings as their current names: {readings}."


def underscore_spelling(name: str) -> str:
    """The v4 spelling of a command or long option name: write-flash -> write_flash."""
    prefix = "--" if name.startswith("--") else ""
    return prefix + name[len(prefix) :].replace("-", "_")


def _options(params: Iterable[click.Parameter]) -> list[click.Option]:
    return [param for param in params if isinstance(param, click.Option)]


def option_aliases(params: Iterable[click.Parameter]) -> dict[str, str]:
    """Every old spelling of the long options in `params`, mapped to the current name."""
    aliases = {}
    for param in _options(params):
        for name in (*param.opts, *param.secondary_opts):
            if not name.startswith("--"):
                continue
            for old in (name, *getattr(param, "legacy_names", ())):
                for spelling in (old, underscore_spelling(old)):
                    if spelling != name:
                        aliases[spelling] = name
    return aliases


def normalise_arguments(
    ctx: click.Context,
    params: Iterable[click.Parameter],
    args: list[str],
    command_names: Collection[str] = (),
) -> list[str]:
    """`args` with old option spellings renamed and eat-all options split per value.

    An eat-all option (esptool's `--port-filter a b`) takes every following word that is not
    an option or a command name; click takes one value per use, so it is repeated per value.
    A group passes its `command_names`: only the words before the command are its own.
    """
    options = _options(params)
    aliases = option_aliases(options)
    takes_value = {
        name for opt in options if not opt.is_flag and not opt.count for name in opt.opts
    }
    eats_all = {name for opt in options if getattr(opt, "eat_all", False) for name in opt.opts}

    result: list[str] = []
    position = 0
    while position < len(args):
        word = args[position]
        position += 1
        if word == "--" or (command_names and not word.startswith("-")):
            result.extend(args[position - 1 :])
            break
        if not word.startswith("-"):
            result.append(word)
            continue
        name, equals, value = word.partition("=")
        if name in aliases:
            note_v4_spelling(ctx, name, aliases[name])
            name = aliases[name]
        if name in eats_all:
            values = [value] if equals else []
            while position < len(args):
                following = args[position]
                if following.startswith("-") or following in command_names:
                    break
                values.append(following)
                position += 1
            result.extend(part for each in values for part in (name, each))
            if not values:
                result.append(name)
            continue
        result.append(name + equals + value)
        if name in takes_value and not equals and position < len(args):
            result.append(args[position])
            position += 1
    return result
