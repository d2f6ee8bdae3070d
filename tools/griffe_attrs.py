"""A Griffe extension that documents attrs classes as their users call them.

Griffe reads source statically; attrs builds ``__init__`` at run time, so without help an
attrs class has no signature in the docs, and each field shows its definition, such as
``decay: float = attrs.field(default=10.0, validator=positive)``. For every class
decorated with ``attrs.define``, ``attrs.frozen``, ``attrs.mutable`` (or the ``attr``
spellings), this extension:

- gives the class the ``__init__`` that attrs generates: the fields of the class and of
  its attrs bases, in order, named as attrs names them (``_rng`` is ``rng``, or its
  ``alias``), keyword-only where attrs makes them so, without ``init=False`` fields, with
  their plain defaults (``10.0``; ``list()`` for ``factory=list``), and for a field with
  a converter, the type the converter takes; unless every field
  is private, which means the library makes the objects (``open_pool_queue`` makes a
  ``PoolQueue``), and the signature would show its internals only;
- shows each field's plain default instead of its ``attrs.field(...)`` call, as an
  instance attribute.

It also turns reST literal blocks (a paragraph ending in ``::`` and an indented block),
which read well in ``help()``, into the fenced blocks that the docs' Markdown renders;
otherwise the ``::`` would show as text and the block lose its highlighting.

Enabled in mkdocs.yml: ``extensions: [tools/griffe_attrs.py]`` under mkdocstrings'
python handler options.
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

import griffe

_ATTRS_DECORATORS = {
    f"{module}.{name}"
    for module in ("attrs", "attr")
    for name in ("define", "frozen", "mutable", "s", "attrs", "dataclass")
}
_FIELD_CALLS = {"attrs.field", "attr.ib", "attr.attrib", "attr.field"}


def _decorator(cls: griffe.Class) -> griffe.Expr | None:
    """The attrs decorator of ``cls`` (a call or a bare name), if it has one."""
    for decorator in cls.decorators:
        value = decorator.value
        if isinstance(value, griffe.Expr) and value.canonical_path in _ATTRS_DECORATORS:
            return value
    return None


def _keywords(expr: griffe.Expr | str | None) -> dict[str, griffe.Expr | str]:
    """The keyword arguments of a call expression, by name."""
    if not isinstance(expr, griffe.ExprCall):
        return {}
    return {
        argument.name: argument.value
        for argument in expr.arguments
        if isinstance(argument, griffe.ExprKeyword)
    }


def _is_true(value: griffe.Expr | str | None) -> bool:
    return str(value) == "True"


def _field_call(attribute: griffe.Attribute) -> griffe.ExprCall | None:
    value = attribute.value
    if isinstance(value, griffe.ExprCall) and value.canonical_path in _FIELD_CALLS:
        return value
    return None


def _plain_default(attribute: griffe.Attribute) -> griffe.Expr | str | None:
    """What a user sees as the default: the value, ``factory()``, or None (required)."""
    call = _field_call(attribute)
    if call is None:
        return attribute.value
    keywords = _keywords(call)
    if "default" in keywords:
        default = keywords["default"]
        # attrs.Factory(f) as a default is a factory too.
        if isinstance(default, griffe.ExprCall) and default.canonical_path in (
            "attrs.Factory",
            "attr.Factory",
        ):
            return f"{default.arguments[0]}()" if default.arguments else "..."
        return default
    if "factory" in keywords:
        factory = str(keywords["factory"])
        return "..." if factory.startswith("lambda") else f"{factory}()"
    return None


def _init_annotation(
    cls: griffe.Class, field: griffe.Attribute, converter: griffe.Expr | str | None
) -> griffe.Expr | str | None:
    """What ``__init__`` takes for ``field``: with a converter that is a function of the
    class's module, its first parameter's type (``RetryBudget | None`` for a converter
    from ``None`` to a default), as attrs annotates the ``__init__`` it generates."""
    if converter is None:
        return field.annotation
    function = cls.module.members.get(str(converter))
    if isinstance(function, griffe.Function) and function.parameters:
        annotation = function.parameters[0].annotation
        if annotation is not None:
            return annotation
    return field.annotation


def _fields(cls: griffe.Class) -> list[griffe.Attribute]:
    """The attrs fields defined in the body of ``cls``, in source order."""
    fields = []
    for member in cls.members.values():
        if member.is_alias or not isinstance(member, griffe.Attribute):
            continue
        if member.annotation is None and _field_call(member) is None:
            continue  # attrs (with annotations) makes fields of annotated names only
        if "property" in member.labels:
            continue
        annotation = str(member.annotation or "")
        if annotation.startswith(("ClassVar", "typing.ClassVar")):
            continue
        fields.append(member)
    return fields


def _parameters(cls: griffe.Class) -> list[tuple[griffe.Parameter, bool]]:
    """The parameters of the ``__init__`` attrs generates for ``cls``, each with whether
    its field is private."""
    by_name: dict[str, tuple[griffe.Parameter, bool]] = {}
    try:
        lineage = [*reversed(cls.mro()), cls]
    except ValueError:  # a base that cannot be resolved
        lineage = [cls]
    for owner in lineage:
        decorator = _decorator(owner)
        if decorator is None:
            continue
        options = _keywords(decorator)
        if "init" in options and not _is_true(options["init"]):
            continue
        class_kw_only = _is_true(options.get("kw_only"))
        for field in _fields(owner):
            keywords = _keywords(_field_call(field))
            if "init" in keywords and not _is_true(keywords["init"]):
                continue
            alias = keywords.get("alias")
            name = str(alias).strip("'\"") if alias is not None else field.name.lstrip("_")
            kw_only = class_kw_only or _is_true(keywords.get("kw_only"))
            by_name.pop(name, None)  # a subclass redefining a field moves it to the end
            parameter = griffe.Parameter(
                name,
                annotation=_init_annotation(owner, field, keywords.get("converter")),
                kind=(
                    griffe.ParameterKind.keyword_only
                    if kw_only
                    else griffe.ParameterKind.positional_or_keyword
                ),
                default=_plain_default(field),
                docstring=field.docstring,
            )
            by_name[name] = (parameter, field.name.startswith("_"))
    parameters = list(by_name.values())
    # As attrs does: the keyword-only ones after the others.
    keyword_only = griffe.ParameterKind.keyword_only
    return [p for p in parameters if p[0].kind is not keyword_only] + [
        p for p in parameters if p[0].kind is keyword_only
    ]


def _document_attrs_class(cls: griffe.Class) -> None:
    decorator = _decorator(cls)
    if decorator is None:
        return
    fields = _fields(cls)
    # With init=False, attrs writes no __init__: the class's own, or its base's, is it.
    generates_init = _is_true(_keywords(decorator).get("init", "True"))
    parameters = _parameters(cls)
    # A class whose fields are all private is made by the library for its users (a
    # PoolQueue by open_pool_queue): its constructor would show only internals.
    made_by_the_library = bool(parameters) and all(private for _, private in parameters)
    if generates_init and "__init__" not in cls.members and not made_by_the_library:
        cls.set_member(
            "__init__",
            griffe.Function(
                "__init__",
                lineno=cls.lineno,
                endlineno=cls.lineno,
                parent=cls,
                parameters=griffe.Parameters(
                    griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword),
                    *(parameter for parameter, _ in parameters),
                ),
                returns="None",
            ),
        )
    for field in fields:
        if _field_call(field) is not None:
            field.value = _plain_default(field)
        field.labels.discard("class-attribute")
        field.labels.add("instance-attribute")


# A paragraph's last line ending in "::", then a blank line, then an indented block.
_LITERAL = re.compile(
    r"(?m)^(?P<lead>[^\n]*?)(?P<colons>[ \t]*::)\n\n(?P<block>(?:[ \t]+\S[^\n]*\n?|\n)+)"
)


def _fence(match: re.Match[str]) -> str:
    lead = match["lead"]
    block = textwrap.dedent(match["block"]).strip("\n")
    try:
        ast.parse(block)
        language = "python"
    except SyntaxError:
        language = "text"
    # "Text::" reads "Text:"; a "::" alone on its line disappears.
    intro = f"{lead}:\n\n" if lead.strip() else ""
    return f"{intro}```{language}\n{block}\n```\n\n"


def fence_literal_blocks(text: str) -> str:
    """``text`` with its reST literal blocks as fenced Markdown code blocks."""
    if "::" not in text:
        return text
    return _LITERAL.sub(_fence, text + "\n").rstrip("\n")


def _walk(obj: griffe.Object, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    if obj.docstring is not None:
        obj.docstring.value = fence_literal_blocks(obj.docstring.value)
    if isinstance(obj, griffe.Class):
        _document_attrs_class(obj)
    for member in list(obj.members.values()):
        if not member.is_alias and isinstance(member, griffe.Object):
            _walk(member, seen)


class AttrsFields(griffe.Extension):
    """Signatures and plain defaults for attrs classes; fenced literal blocks."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _walk(pkg, set())
