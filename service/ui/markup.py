"""A small HTML builder that escapes by construction: a `str` child or attribute value is
always escaped; only `Markup` (made here from escaped parts) passes through. Every page is built
from `el(...)` calls, so stored articles (hostile input) can never become markup."""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape
from typing import Union

Child = Union["Markup", str, int, float, None, Iterable["Child"]]

_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9-]*")
# Elements without a closing tag.
_VOID = frozenset({"br", "hr", "img", "input", "link", "meta"})


class Markup(str):
    """HTML that is already safe: made only by this module."""

    __slots__ = ()


def render(child: Child) -> Markup:
    if child is None:
        return Markup("")
    if isinstance(child, Markup):
        return child
    if isinstance(child, str):
        return Markup(escape(child, quote=True))
    if isinstance(child, int | float):
        return Markup(escape(str(child)))
    return Markup("".join(render(c) for c in child))


def el(tag: str, *children: Child, **attrs: str | int | bool | None) -> Markup:
    """`<tag attrs>children</tag>`. Attribute names are Python names (`class_` → `class`,
    `aria_label` → `aria-label`); True writes a bare attribute, False and None leave it out."""
    parts = [tag]
    for name, value in attrs.items():
        name = name.rstrip("_").replace("_", "-")
        if not _ATTRIBUTE_NAME.fullmatch(name):
            raise ValueError(f"not an attribute name: {name!r}")
        if value is None or value is False:
            continue
        parts.append(name if value is True else f'{name}="{escape(str(value), quote=True)}"')
    opening = f"<{' '.join(parts)}>"
    if tag in _VOID:
        return Markup(opening)
    return Markup(f"{opening}{render(list(children))}</{tag}>")


def page(*children: Child) -> Markup:
    return Markup("<!doctype html>\n" + render(list(children)))
