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
      development set-up: CA, coordinator credentials, one directory per lab
  labmatch lab keygen ./lab-a --name a
      production: the lab makes its own keys and an enrolment request
  labmatch consortium enrol ./consortium --request enrolment-request.json
      the operator signs it offline (adds the lab, or renews it)
  labmatch lab install ./lab-a --response ./consortium/issued/a
  labmatch inspect --input bans.csv
      what each row canonicalises to, and why rows are refused
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


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more seconds")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _epoch(text: str) -> str:
    from labmatch.wire import WireError, epoch_window

    try:
        epoch_window(text)
    except WireError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
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
    # -v is also accepted after the command (`labmatch sync ... -v`).
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true",
                         default=argparse.SUPPRESS,
                         help="log protocol steps (never values) on stderr")

    demo = commands.add_parser(
        "demo", help="run a coordinator and three labs on demo data",
        parents=[verbose])
    demo.add_argument("--data", type=Path, metavar="DIR",
                      help="use the real public lists in DIR "
                           "(e.g. ../shared/data/public)")
    demo.add_argument("--size", type=int, default=2000,
                      help="items per kind per lab (generated data); "
                           "values sampled per list (--data)")
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

    create = consortium.add_parser(
        "create", help="found a consortium from labs' enrolment requests")
    create.add_argument("directory", type=Path, metavar="DIR")
    create.add_argument("--request", required=True, type=Path,
                        action="append", dest="requests", metavar="FILE")
    create.add_argument("--coordinator", default=None, metavar="HOST:PORT")
    create.add_argument("--kinds", default=None)
    create.add_argument("--force", action="store_true")

    enrol = consortium.add_parser(
        "enrol", help="sign a lab's enrolment request (add or renew)")
    enrol.add_argument("directory", type=Path, metavar="DIR")
    enrol.add_argument("--request", required=True, type=Path,
                       metavar="FILE")
    enrol.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="response directory (default DIR/issued/NAME)")
    enrol.add_argument("--replace-keys", action="store_true",
                       help="accept new keys for an enrolled lab")

    lab = commands.add_parser(
        "lab", help="a lab's own keys and enrolment").add_subparsers(
            dest="lab_command", metavar="ACTION")
    keygen = lab.add_parser("keygen",
                            help="make this lab's keys and a request")
    keygen.add_argument("directory", type=Path, metavar="DIR")
    keygen.add_argument("--name", required=True)
    keygen.add_argument("--force", action="store_true",
                        help="make new keys even if keys exist")
    renew = lab.add_parser("renew",
                           help="a new request with the same keys")
    renew.add_argument("directory", type=Path, metavar="DIR")
    install = lab.add_parser("install",
                             help="install the operator's response")
    install.add_argument("directory", type=Path, metavar="DIR")
    install.add_argument("--response", required=True, type=Path,
                         metavar="DIR")

    inspect = commands.add_parser(
        "inspect", help="check input files before the first sync")
    inspect.add_argument("--input", required=True, type=Path,
                         action="append", dest="inputs", metavar="FILE")
    inspect.add_argument("--show-values", action="store_true",
                         help="print a few canonical examples per kind "
                              "(never card numbers)")

    serve = commands.add_parser("serve", help="run the coordinator",
                                parents=[verbose])
    serve.add_argument("--consortium", required=True, type=Path,
                       metavar="FILE")
    serve.add_argument("--listen", default=None, metavar="HOST:PORT",
                       help="default 127.0.0.1:50051")
    serve.add_argument("--store", default=None,
                       metavar="sqlite:PATH|redis://HOST:PORT/DB",
                       help="default sqlite: coordinator/state.sqlite3 "
                            "beside FILE")

    sync = commands.add_parser("sync", help="sync one lab for an epoch",
                               parents=[verbose])
    sync.add_argument("--lab", required=True, type=Path, metavar="DIR")
    sync.add_argument("--input", required=True, type=Path, action="append",
                      metavar="FILE", dest="inputs")
    sync.add_argument("--output", required=True, type=Path, metavar="FILE")
    sync.add_argument("--coordinator", default=None, metavar="HOST:PORT")
    sync.add_argument("--epoch", type=_epoch, default=None,
                      metavar="YYYY-MM-DD",
                      help="default: today's UTC date")
    sync.add_argument("--wait", type=seconds, default=None,
                      metavar="SECONDS",
                      help="keep polling until complete or time runs out")
    sync.add_argument("--summary-json", type=Path, default=None,
                      metavar="FILE")
    sync.add_argument("--strict", action="store_true",
                      help="abort on the first bad input row")
    sync.add_argument("--workers", type=positive_int, default=None,
                      metavar="N",
                      help="processes for blinding and evaluation "
                           "(default: one per CPU)")
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
    kinds = _kinds(args.kinds)
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


def _kinds(text: str | None) -> list[str]:
    from labmatch.client.consortium import DEFAULT_KINDS

    return ([k.strip() for k in text.split(",")] if text
            else list(DEFAULT_KINDS))


def _setup(command: str, action) -> int:
    """Run a set-up step; errors become a message and an exit code."""
    from labmatch.psi.errors import LabmatchError

    try:
        message = action()
    except (LabmatchError, ValueError, OSError) as exc:
        print(f"labmatch {command}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    print(message, file=sys.stderr)
    return 0


def _consortium_create(args) -> int:
    from labmatch.client.consortium import DEFAULT_COORDINATOR
    from labmatch.client.consortium import create_consortium

    def action() -> str:
        c = create_consortium(
            args.directory, args.requests,
            coordinator=args.coordinator or DEFAULT_COORDINATOR,
            kinds=_kinds(args.kinds), force=args.force)
        return (f"consortium {c.consortium_id} founded in {args.directory} "
                f"with {len(c.labs)} labs; responses under "
                f"{args.directory / 'issued'}")
    return _setup("consortium create", action)


def _consortium_enrol(args) -> int:
    from labmatch.client.enrolment import enrol

    def action() -> str:
        out = enrol(args.directory, args.request, out_dir=args.out,
                    replace_keys=args.replace_keys)
        return (f"response written to {out}: give it to the lab, and the "
                f"new consortium.toml to every lab and the coordinator")
    return _setup("consortium enrol", action)


def _lab(args) -> int:
    from labmatch.client import enrolment

    if args.lab_command == "keygen":
        def action() -> str:
            path = enrolment.lab_keygen(args.directory, args.name,
                                        force=args.force)
            return f"keys made; send {path} to the consortium operator"
    elif args.lab_command == "renew":
        def action() -> str:
            path = enrolment.renewal_request(args.directory)
            return f"renewal request written; send {path} to the operator"
    elif args.lab_command == "install":
        def action() -> str:
            enrolment.install_response(args.directory, args.response)
            return f"certificate and consortium file installed in " \
                   f"{args.directory}"
    else:
        return 2
    return _setup(f"lab {args.lab_command}", action)


def _inspect(args) -> int:
    from labmatch.client.inspect import inspect_inputs
    from labmatch.psi.errors import LabmatchError

    try:
        print(inspect_inputs(args.inputs, show_values=args.show_values))
    except (LabmatchError, OSError) as exc:
        print(f"labmatch inspect: {exc}", file=sys.stderr)
        return 1
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
        quiet=args.quiet, workers=args.workers))


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
    if args.command == "consortium" and args.consortium_command == "create":
        return _consortium_create(args)
    if args.command == "consortium" and args.consortium_command == "enrol":
        return _consortium_enrol(args)
    if args.command == "lab" and args.lab_command:
        return _lab(args)
    if args.command == "inspect":
        return _inspect(args)
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
