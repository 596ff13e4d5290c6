"""Run a lesson's code cells in order, in this process, with its parameters changed; time them.

    python bench/run_lesson.py notebooks/07_full_loop.ipynb preset=sd-v1-5 weights=DIR size=512

No Jupyter is needed: the cells run with ``exec`` in one namespace, the way a kernel runs them,
after the cell tagged ``parameters``, whose names are then overridden by the ``key=value``
arguments (values are Python literals, or plain text: ``weights=/data/sd15``). Printed output
goes to stdout as the cells print it; figures use matplotlib's Agg backend and are closed;
a cell's last expression is not displayed. The last lines give the time of each cell and
the total, with the Keras backend, so a lesson can be timed at 512² on a GPU.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path


def parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a path or a word


def code_cells(notebook: Path) -> list[tuple[int, str, bool]]:
    """(index, source, is_parameters) of each code cell."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [(i, "".join(c["source"]), "parameters" in c.get("metadata", {}).get("tags", []))
            for i, c in enumerate(cells) if c["cell_type"] == "code"]


def run(notebook: Path, overrides: dict) -> list[tuple[int, float]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = code_cells(notebook)
    if overrides and not any(p for _, _, p in cells):
        raise SystemExit(f"{notebook} has no cell tagged 'parameters' to override")
    namespace = {"__name__": "__main__"}
    os.chdir(notebook.parent)  # lessons read paths relative to their folder, as in Jupyter
    times = []
    for index, source, is_parameters in cells:
        start = time.perf_counter()
        exec(compile(source, f"{notebook.name}[{index}]", "exec"), namespace)
        if is_parameters:
            unknown = set(overrides) - set(namespace)
            if unknown:
                raise SystemExit(f"unknown parameter(s) {sorted(unknown)}; the parameters "
                                 f"cell defines: {source.strip()}")
            namespace.update(overrides)
        plt.close("all")
        times.append((index, time.perf_counter() - start))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("parameters", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        parser.error(f"{args.notebook} not found")
    overrides = {}
    for item in args.parameters:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            parser.error(f"{item!r} is not key=value")
        overrides[key] = parse_value(value)
    start = time.perf_counter()
    times = run(args.notebook.resolve(), overrides)
    total = time.perf_counter() - start
    from explainer.models import backend

    print(f"\n{args.notebook.name} on {backend.name()}: "
          + ", ".join(f"cell {i} {t:.1f} s" for i, t in times if t >= 0.05)
          + f"; total {total:.1f} s", file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
