"""``arroyo-jupyter``: serve the embedded API, run a SQL file on the engine, run the demo."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing
from typing import Any

from .local.config import ServerConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the tomli dependency
    import tomli as tomllib

_HIDDEN = {"api_key"}  # never a flag: the command line is visible in ps and /proc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arroyo-jupyter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve Arroyo's REST API on the embedded engine")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5115)
    serve.add_argument("--state-dir", default=None, help="where pipelines and checkpoints live")
    serve.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' (visible in ps: prefer --api-key-env)",
    )
    serve.add_argument("--api-key-env", default=None, metavar="VAR", help="read the API key from $VAR")
    serve.add_argument(
        "--config", default=None, metavar="FILE", help="a TOML file of server settings (the flags below win)"
    )
    _settings_flags(serve)

    run = sub.add_parser("run", help="run a SQL pipeline file until its sources finish")
    run.add_argument("query", help="path of a .sql file")
    run.add_argument("--parallelism", type=int, default=1)
    run.add_argument("--state-dir", default=None)
    run.add_argument("--batch-size", type=int, default=None, help="rows per source batch")
    run.add_argument("--checkpoint-every", type=int, default=None, help="checkpoint every N source batches")
    run.add_argument("--stop-after-checkpoint", type=int, default=None, metavar="EPOCH")

    sub.add_parser("demo", help="run the quickstart on the embedded engine and tell what happened")
    return parser


def _flag_type(f: dataclasses.Field) -> tuple[type, bool]:
    """(element type, is_list) of a ServerConfig field."""
    hint = typing.get_type_hints(ServerConfig)[f.name]
    base = hint
    if typing.get_origin(hint) is not list and typing.get_args(hint):  # X | None
        base = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(base) is list:
        return typing.get_args(base)[0], True
    return base, False


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ServerConfig knob: --max-running-jobs N, --allowed-origin URL (repeatable), …"""
    group = parser.add_argument_group("server settings (defaults in README)")
    for f in dataclasses.fields(ServerConfig):
        if f.name in _HIDDEN:
            continue
        flag = "--" + f.name.replace("_", "-")
        typ, is_list = _flag_type(f)
        if typ is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        elif is_list:
            group.add_argument(flag, dest=f.name, type=typ, action="append", default=None, help="repeatable")
        else:
            group.add_argument(flag, dest=f.name, type=typ, default=None)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Settings from --config FILE, overridden by flags given on the command line."""
    settings: dict[str, Any] = {}
    if args.config:
        loaded = _read_config(args.config)
        known = {f.name for f in dataclasses.fields(ServerConfig)} - _HIDDEN
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise ValueError(
                f"unknown setting(s) in {args.config}: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        settings.update(loaded)
    for f in dataclasses.fields(ServerConfig):
        value = getattr(args, f.name, None)
        if f.name not in _HIDDEN and value is not None:
            settings[f.name] = value
    return settings


def _read_config(path: str) -> dict[str, Any]:
    """A TOML file (``max_running_jobs = 20``), or JSON when it ends in ``.json``."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if path.endswith(".json"):
            loaded = json.loads(raw)
        else:
            loaded = tomllib.loads(raw.decode())
    except (OSError, ValueError) as e:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"cannot read the config file {path}: {e}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"the config file {path} must hold a table of settings")
    return loaded


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise ValueError(
                f"--api-key-env {args.api_key_env}: that environment variable is not set or empty"
            )
        return key
    return args.api_key


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from .local.server import serve_forever

        try:
            api_key = _api_key(args)
            settings = _settings(args)
        except ValueError as e:
            print(f"arroyo-jupyter serve: {e}", file=sys.stderr)
            return 2
        return serve_forever(
            host=args.host, port=args.port, state_dir=args.state_dir, api_key=api_key, settings=settings
        )
    if args.command == "run":
        from .local.engine.run_file import run_file

        return run_file(
            args.query,
            parallelism=args.parallelism,
            state_dir=args.state_dir,
            batch_size=args.batch_size,
            checkpoint_every=args.checkpoint_every,
            stop_after_checkpoint=args.stop_after_checkpoint,
        )
    if args.command == "demo":
        from .demo import main as demo_main

        return demo_main()
    return 2


if __name__ == "__main__":
    sys.exit(main())
