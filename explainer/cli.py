"""The command line: ``python -m explainer <command> ...`` (also installed as ``explainer``).

Commands:
    tokenize PROMPT            show how CLIP reads a prompt: pieces, ids, padding, truncated tail.
    download sd-v1-5 --to DIR  fetch the SD v1.5 weights folder (needs internet access).

Exit codes: 0 success, 2 bad arguments, 1 runtime failure (one-line reason; ``--debug``
shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
import warnings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explainer", description="How Stable Diffusion turns a prompt into a picture."
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tok = sub.add_parser("tokenize", help="show how CLIP tokenizes a prompt")
    tok.add_argument("prompt", help="the prompt text")
    tok.add_argument("--all", action="store_true", help="also list the padding positions")
    dl = sub.add_parser("download", help="download a preset's weights folder")
    dl.add_argument("preset", choices=["sd-v1-5"], help="the preset to download")
    dl.add_argument("--to", required=True, metavar="DIR", help="the folder to fill")
    dl.add_argument("--fp16", action="store_true", help="the fp16 files (half the size)")
    return parser


def _tokenize(args) -> int:
    from explainer.tokenizer import PromptTruncatedWarning, tokenize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromptTruncatedWarning)  # the table shows the tail
        tokens = tokenize(args.prompt)
    print(f"prompt: {tokens.prompt!r}")
    print(tokens.table(show_padding=args.all))
    return 0


def _download(args) -> int:
    from explainer.weights import download

    folder = download(args.preset, to=args.to, variant="fp16" if args.fp16 else None)
    print(folder)
    return 0


COMMANDS = {"tokenize": _tokenize, "download": _download}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except Exception as err:  # one line for users; the traceback with --debug
        if args.debug:
            raise
        print(f"explainer {args.command}: error: {err}", file=sys.stderr)
        return 1
