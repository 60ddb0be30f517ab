"""`thresher config`: print every setting with its default, or check a config file."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="print every run setting with its default and meaning, or check a config file",
        description="Without arguments: print a complete, commented YAML config (every setting "
        "at its default). With --check FILE: validate FILE and print the resolved config.",
    )
    p.add_argument("--check", metavar="FILE", help="validate this YAML/JSON config file")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    import yaml

    from thresher.pipelines.config import RunConfig, load_config

    if args.check:
        config = load_config(args.check)
        print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False).rstrip())
        print(f"# {args.check}: valid")
        return 0
    print(commented_defaults(RunConfig))
    return 0


def commented_defaults(model, indent: int = 0) -> str:
    """YAML of a pydantic model's defaults, each key preceded by its description."""
    import yaml
    from pydantic import BaseModel

    pad = " " * indent
    lines = []
    for name, field in model.model_fields.items():
        if field.description:
            lines.append(f"{pad}# {field.description}")
        nested = _model_in(field.annotation, BaseModel)
        if nested is not None:
            note = "  # optional section: omit to disable" if field.default is None else ""
            lines.append(f"{pad}{name}:{note}")
            lines.append(commented_defaults(nested, indent + 2))
            continue
        if field.is_required():
            lines.append(f"{pad}{name}: null  # required")
            continue
        value = field.get_default(call_default_factory=True)
        value = yaml.safe_load(_json_of(value))
        dumped = yaml.safe_dump({name: value}, default_flow_style=True, width=1000).strip()
        lines.append(f"{pad}{dumped[1:-1]}")
    return "\n".join(lines)


def _json_of(value) -> str:
    import json

    from pydantic_core import to_json

    return json.dumps(json.loads(to_json(value)))


def _model_in(annotation, base):
    """The BaseModel class inside `X` or `X | None`, else None."""
    import typing

    candidates = [annotation, *typing.get_args(annotation)]
    for c in candidates:
        if isinstance(c, type) and issubclass(c, base):
            return c
    return None
