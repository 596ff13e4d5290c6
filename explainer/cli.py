"""The command line: ``python -m explainer <command> ...`` (also installed as ``explainer``).

Commands:
    tokenize PROMPT            show how CLIP reads a prompt: pieces, ids, padding, truncated tail.
    explain PROMPT --out DIR   run the pipeline and write DIR/index.html, a self-contained page
                               of every stage (plus trace.npz, denoising.gif, image.png).
    replay TRACE --out DIR     rebuild that page from a saved trace.npz, without any model.
    generate PROMPT --out FILE.png   just the picture(s).
    download sd-v1-5 --to DIR  fetch the SD v1.5 weights folder (needs internet access).

Arguments are checked before any model loads. Output appears only when everything succeeded:
it is built in a temporary folder next to DIR and moved into place at the end.

Exit codes: 0 success, 2 bad arguments, 1 runtime failure (one-line reason; ``--debug``
shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explainer", description="How Stable Diffusion turns a prompt into a picture."
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tok = sub.add_parser("tokenize", help="show how CLIP tokenizes a prompt")
    tok.add_argument("prompt", help="the prompt text")
    tok.add_argument("--all", action="store_true", help="also list the padding positions")
    for name, text in (("explain", "run a prompt and write a web page explaining every stage"),
                       ("generate", "run a prompt and write just the picture(s)")):
        run = sub.add_parser(name, help=text)
        run.add_argument("prompt", help="the prompt text")
        run.add_argument("--out", required=True, metavar="DIR" if name == "explain" else
                         "FILE.png", help="the folder to write" if name == "explain" else
                         "the PNG to write (several seeds: FILE-seedN.png each)")
        run.add_argument("--preset", choices=_preset_names(), default="tiny-shapes",
                         help="the model (default tiny-shapes, shipped in assets/)")
        run.add_argument("--weights", metavar="DIR", help="a diffusers weights folder "
                         "(required for sd-v1-5)")
        if name == "explain":
            run.add_argument("--seed", type=int, default=0, help="the noise seed (default 0)")
        else:
            run.add_argument("--seed", "--seeds", type=int, nargs="+", default=[0], metavar="N",
                             help="one seed, or several for one picture each (default 0)")
        run.add_argument("--steps", type=int, help="denoising steps (default: the preset's)")
        run.add_argument("--guidance", type=float, metavar="S",
                         help="guidance scale s (default: the preset's)")
        run.add_argument("--scheduler", choices=_scheduler_names(), metavar="NAME",
                         help="one of " + ", ".join(_scheduler_names()) +
                         " (default: the weights folder's)")
        run.add_argument("--negative", metavar="TEXT", help="the negative prompt (default \"\")")
        run.add_argument("--size", metavar="WxH", help="image size in pixels, e.g. 64x64 "
                         "(default: the model's own)")
        run.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                         default="float32", help="the UNet's compute type (default float32; "
                         "bfloat16 is ~1.7x faster on CPUs with AVX512_BF16)")
        run.add_argument("--low-memory", action="store_true", help="store the UNet's weights "
                         "in --dtype too (SD v1.5: 1.7 GB instead of 3.4 GB)")
        run.add_argument("--xla", action="store_true", help="compile the networks with XLA")
        run.add_argument("--quiet", action="store_true", help="no progress bar")
    rp = sub.add_parser("replay", help="rebuild an explain page from a saved trace.npz")
    rp.add_argument("trace", help="a trace.npz written by explain (or Trace.save)")
    rp.add_argument("--out", required=True, metavar="DIR", help="the folder to write")
    dl = sub.add_parser("download", help="download a preset's weights folder")
    dl.add_argument("preset", choices=_downloadable(), help="the preset to download")
    dl.add_argument("--to", required=True, metavar="DIR", help="the folder to fill")
    dl.add_argument("--fp16", action="store_true", help="the fp16 files (half the size)")
    parser.commands = sub.choices  # name -> its parser, whose .error() names the command
    return parser


def _downloadable() -> list[str]:
    from explainer.models.configs import PRESETS

    return sorted(name for name, preset in PRESETS.items() if preset.repo_id)


def _preset_names() -> list[str]:
    from explainer.models.configs import PRESETS

    return sorted(PRESETS)


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


def _scheduler_names() -> list[str]:
    from explainer.schedulers import SCHEDULER_NAMES

    return list(SCHEDULER_NAMES)


# -- checking arguments (before any model loads; parser.error exits with code 2) -------------

def _check_run(parser, args) -> None:
    """The library's own input checks (diffusion/inputs.py), their errors as ``parser.error``."""
    from explainer.diffusion.guidance import check_guidance
    from explainer.diffusion.inputs import check_seeds, check_size, check_steps
    from explainer.models.configs import PRESETS

    preset = PRESETS[args.preset]
    if args.weights is None and not preset.assets:
        parser.error(f"--preset {args.preset} needs --weights DIR, its diffusers folder (get "
                     f"it with `explainer download {args.preset} --to DIR`)")
    if args.weights is not None and not Path(args.weights).is_dir():
        parser.error(f"--weights {args.weights}: no such folder; give the diffusers folder "
                     "that holds unet/, vae/, text_encoder/")
    if args.low_memory and args.dtype == "float32":
        parser.error("--low-memory stores the UNet's weights in its compute type; add "
                     "--dtype bfloat16 (or float16), or drop --low-memory")
    args.height = args.width = None
    if args.size is not None:
        found = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", args.size)
        if not found:
            parser.error(f"--size {args.size!r} is not WxH in pixels, e.g. --size 64x64")
        args.width, args.height = int(found[1]), int(found[2])
        multiple = preset.vae.downscale * preset.unet.downscale   # VAE factor x UNet downsampling
        _checked(parser, f"--size {args.size}", check_size, args.height, args.width, multiple, 0)
    if args.steps is not None:
        _checked(parser, f"--steps {args.steps}", check_steps, args.steps,
                 preset.scheduler.get("num_train_timesteps", 1000))
    _checked(parser, "--seed " + " ".join(map(str, args.seed if isinstance(args.seed, list)
                                                 else [args.seed])), check_seeds, args.seed)
    if args.guidance is not None:
        _checked(parser, f"--guidance {args.guidance}", check_guidance, args.guidance)


def _checked(parser, flag: str, check, *values) -> None:
    """Run one of the library's checks; its message becomes ``explainer: error: FLAG: ...``."""
    try:
        check(*values)
    except (TypeError, ValueError) as err:
        parser.error(f"{flag}: {err}")


def _check_out(parser, out: str, is_file: bool = False) -> Path:
    """The output path, refused unless it (or the folder it goes in) can be written."""
    path = Path(out).expanduser()
    if is_file and path.suffix.lower() != ".png":
        parser.error(f"--out {out}: the picture is written as PNG; give a name ending in .png")
    if not is_file and path.exists() and not path.is_dir():
        parser.error(f"--out {out} is a file; give a folder (it is created if missing)")
    if is_file and path.is_dir():
        parser.error(f"--out {out} is a folder; give a file name ending in .png")
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        parser.error(f"--out {out}: cannot create it, {parent} is not a writable folder")
    return path


# -- running ---------------------------------------------------------------------------------

def _run(args, keep=None):
    from explainer.diffusion.loading import load_pipeline

    pipe = load_pipeline(args.preset, weights=args.weights, dtype=args.dtype,
                         low_memory=args.low_memory, jit_compile=args.xla)
    seeds = args.seed if isinstance(args.seed, list) else [args.seed]
    capture = False
    if keep is None:  # the report's attention section: the prompt's tokens, the prompt's branch
        from explainer.diffusion.attention_capture import AttentionCapture

        prompts = args.prompt if isinstance(args.prompt, list) else [args.prompt]
        n_real = max(t.n_real for t in pipe.tokenize(prompts))
        capture = AttentionCapture(tokens=tuple(range(n_real)), branches=("cond",))
    result = pipe.text_to_image(args.prompt, negative_prompt=args.negative, seed=seeds,
                                num_steps=args.steps, guidance_scale=args.guidance,
                                scheduler=args.scheduler, height=args.height, width=args.width,
                                keep=keep, progress=not args.quiet, capture_attention=capture)
    return pipe, result


def _staged(out: Path, build) -> None:
    """Call ``build(tmp_folder)`` in a temporary folder next to ``out``, then move each file it
    wrote into ``out``: an error leaves nothing behind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        build(tmp)
        out.mkdir(exist_ok=True)
        for item in sorted(tmp.iterdir()):
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _explain(args) -> int:
    from explainer.report import Report, record_previews
    from explainer.diffusion.trace import Trace

    pipe, result = _run(args)
    record_previews(result.trace, pipe.decode)                 # x_t, x̂_0 through the real VAE

    def build(folder: Path) -> None:
        trace = Trace.load(result.trace.save(folder / "trace.npz"))  # the page = replay's page
        Report(trace).write(folder)

    _staged(args.out, build)
    print(args.out / "index.html")
    return 0


def _replay(args) -> int:
    from explainer.report import Report
    from explainer.diffusion.trace import Trace

    source = Path(args.trace)
    trace = Trace.load(source)

    def build(folder: Path) -> None:
        shutil.copyfile(source, folder / "trace.npz")
        Report(trace).write(folder)

    _staged(args.out, build)
    print(args.out / "index.html")
    return 0


def _generate(args) -> int:
    from PIL import Image

    _, result = _run(args, keep=())
    seeds, out = result.trace.metadata["seeds"], args.out
    paths = [out] if len(seeds) == 1 else [out.with_name(f"{out.stem}-seed{s}{out.suffix}")
                                           for s in seeds]

    def build(folder: Path) -> None:
        for image, path in zip(result.images, paths):
            Image.fromarray(image).save(folder / path.name)

    _staged(out.parent, build)
    for path in paths:
        print(path)
    return 0


COMMANDS = {"tokenize": _tokenize, "download": _download, "explain": _explain,
            "replay": _replay, "generate": _generate}


def main(argv: list[str] | None = None) -> int:
    top = build_parser()
    args = top.parse_args(argv)
    parser = top.commands[args.command]  # its errors read "explainer explain: error: ..."
    if args.command in ("explain", "generate"):
        _check_run(parser, args)
    if args.command in ("explain", "generate", "replay"):
        args.out = _check_out(parser, args.out, is_file=args.command == "generate")
    if args.command == "replay" and not Path(args.trace).is_file():
        parser.error(f"{args.trace}: no such file; give the trace.npz that explain wrote")
    try:
        return COMMANDS[args.command](args)
    except Exception as err:  # one line for users; the traceback with --debug
        if args.debug:
            raise
        print(f"explainer {args.command}: error: {err}", file=sys.stderr)
        return 1
