"""``arroyo-jupyter``: serve the embedded API, run a SQL file on the engine, run the demo."""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arroyo-jupyter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve Arroyo's REST API on the embedded engine")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5115)
    serve.add_argument("--state-dir", default=None, help="where pipelines and checkpoints live")
    serve.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")

    run = sub.add_parser("run", help="run a SQL pipeline file until its sources finish")
    run.add_argument("query", help="path of a .sql file")
    run.add_argument("--parallelism", type=int, default=1)
    run.add_argument("--state-dir", default=None)
    run.add_argument("--batch-size", type=int, default=None, help="rows per source batch")
    run.add_argument("--checkpoint-every", type=int, default=None, help="checkpoint every N source batches")
    run.add_argument("--stop-after-checkpoint", type=int, default=None, metavar="EPOCH")

    sub.add_parser("demo", help="run the quickstart on the embedded engine and tell what happened")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from .local.server import serve_forever

        return serve_forever(host=args.host, port=args.port, state_dir=args.state_dir, api_key=args.api_key)
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
