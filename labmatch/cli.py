"""The ``labmatch`` command: the one place that wires client and server."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__

EXAMPLES = """\
examples:
  labmatch demo
      three labs and a coordinator on generated data, in one command
  labmatch consortium init ./consortium --labs a,b,c
      development CA, coordinator credentials and one directory per lab
  labmatch serve --consortium ./consortium/consortium.toml
      run the coordinator (SQLite store beside the file)
  labmatch serve --consortium ./consortium/consortium.toml \\
      --store redis://127.0.0.1:6379/0
  labmatch sync --lab ./consortium/labs/a --input bans.csv \\
      --output matches.csv --wait 120
      upload, evaluate peers and write this lab's matches

exit codes of sync: 0 complete, 75 some peer not complete yet,
1 failed, 2 usage error or --strict abort
"""


def _positive_seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more seconds")
    return value


def _epoch(text: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "epoch must be a date written YYYY-MM-DD") from None
    if len(text) != 10:
        raise argparse.ArgumentTypeError(
            "epoch must be a date written YYYY-MM-DD")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labmatch",
        description="Find the suspects your lab shares with other labs, "
                    "without anyone seeing anyone else's list.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"labmatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log protocol steps (never values) on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run a coordinator and three labs on demo data")
    demo.add_argument("--data", type=Path, metavar="DIR",
                      help="use the real public lists in DIR "
                           "(e.g. ../shared/data/public)")
    demo.add_argument("--size", type=int, default=2000,
                      help="items per kind per lab (generated data)")
    demo.add_argument("--keep", type=Path, metavar="DIR",
                      help="keep the demo's files in DIR")

    consortium = commands.add_parser(
        "consortium", help="set up a consortium").add_subparsers(
            dest="consortium_command", metavar="ACTION")
    init = consortium.add_parser(
        "init", help="create a development consortium",
        description="Development set-up: one CA, coordinator credentials "
                    "and a self-contained directory per lab.")
    init.add_argument("directory", type=Path, metavar="DIR")
    init.add_argument("--labs", required=True,
                      help="comma-separated lab names, at least two")
    init.add_argument("--coordinator", default=None, metavar="HOST:PORT")
    init.add_argument("--kinds", default=None,
                      help="comma-separated identifier kinds")
    init.add_argument("--force", action="store_true",
                      help="reuse an existing DIR (its CA key is kept)")

    serve = commands.add_parser("serve", help="run the coordinator")
    serve.add_argument("--consortium", required=True, type=Path,
                       metavar="FILE")
    serve.add_argument("--listen", default=None, metavar="HOST:PORT",
                       help="default 127.0.0.1:50051")
    serve.add_argument("--store", default=None,
                       metavar="sqlite:PATH|redis://HOST:PORT/DB",
                       help="default sqlite: coordinator/state.sqlite3 "
                            "beside FILE")

    sync = commands.add_parser("sync", help="sync one lab for an epoch")
    sync.add_argument("--lab", required=True, type=Path, metavar="DIR")
    sync.add_argument("--input", required=True, type=Path, action="append",
                      metavar="FILE", dest="inputs")
    sync.add_argument("--output", required=True, type=Path, metavar="FILE")
    sync.add_argument("--coordinator", default=None, metavar="HOST:PORT")
    sync.add_argument("--epoch", type=_epoch, default=None,
                      metavar="YYYY-MM-DD",
                      help="default: today's UTC date")
    sync.add_argument("--wait", type=_positive_seconds, default=None,
                      metavar="SECONDS",
                      help="keep polling until complete or time runs out")
    sync.add_argument("--summary-json", type=Path, default=None,
                      metavar="FILE")
    sync.add_argument("--strict", action="store_true",
                      help="abort on the first bad input row")
    sync.add_argument("-q", "--quiet", action="store_true",
                      help="no progress or summary on stderr")

    return parser


def _consortium_init(args) -> int:
    from labmatch.client.consortium import (
        DEFAULT_COORDINATOR,
        DEFAULT_KINDS,
        init_consortium,
    )
    from labmatch.psi.errors import LabmatchError

    labs = [name.strip() for name in args.labs.split(",")]
    kinds = ([k.strip() for k in args.kinds.split(",")]
             if args.kinds else list(DEFAULT_KINDS))
    try:
        consortium = init_consortium(
            args.directory, labs,
            coordinator=args.coordinator or DEFAULT_COORDINATOR,
            kinds=kinds, force=args.force)
    except (LabmatchError, ValueError, OSError) as exc:
        print(f"labmatch consortium init: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    print(f"consortium {consortium.consortium_id} written to "
          f"{args.directory} (development set-up; keep "
          f"{args.directory / 'ca' / 'ca.key'} offline)", file=sys.stderr)
    return 0


def _serve(args) -> int:
    from labmatch.psi.errors import LabmatchError
    from labmatch.server.app import ServerConfig, run

    try:
        config = ServerConfig.from_files(args.consortium, args.listen,
                                         args.store)
        return run(config)
    except (LabmatchError, ValueError, OSError) as exc:
        print(f"labmatch serve: {exc}", file=sys.stderr)
        return 1


def _sync(args) -> int:
    from labmatch.client.run import SyncOptions, run_sync

    return run_sync(SyncOptions(
        lab_dir=args.lab, inputs=args.inputs, output=args.output,
        coordinator=args.coordinator, epoch=args.epoch, wait=args.wait,
        summary_json=args.summary_json, strict=args.strict,
        quiet=args.quiet))


def _demo(args) -> int:
    from .demo import run_demo

    return run_demo(data=args.data, size=args.size, keep=args.keep)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "serve"
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr)
    if args.command == "consortium" and args.consortium_command == "init":
        return _consortium_init(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "sync":
        return _sync(args)
    if args.command == "demo":
        return _demo(args)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
