"""LatentTrajectory: the path of the latents through the denoising loop, seen in 2-D by PCA.

A latent x_t is a point in a space of h·w·4 dimensions (16,384 for SD v1.5 at 512 px). The
loop moves it step by step from the seed's noise x_T to the picture's x_0, and at each step
the scheduler also predicts where it is heading, x̂_0. Principal component analysis finds the
few directions in which these points spread the most, and projects every point onto them:

    X  = the stacked points, one row each, minus their mean μ        [N, D]
    X  = U S Vᵀ   (numpy SVD)       directions = the first rows of Vᵀ  [k, D]
    coordinates of a point x: (x − μ) Vᵀ[:k]ᵀ                          [k]
    explained[i] = S_i² / Σ S²      the share of the spread along direction i

All runs given together share one basis (fitted to all their points), so several seeds or two
prompts can be compared on one plot. Typical picture: x_t starts far out (noise is large)
and curls in towards x_0; x̂_0 jumps around at first, then settles early on its answer.

| attribute        | shape                 | what it is                                  |
|------------------|-----------------------|---------------------------------------------|
| ``paths``        | {(label, row): [n, k]} | coordinates; row "latents" is x_T..x_0 (steps + 1 points), "pred_x0" one per step |
| ``components``   | [k, D]                | the directions (unit vectors)               |
| ``explained``    | [k]                   | share of the spread along each              |
"""

from __future__ import annotations

import numpy as np

ROWS = ("latents", "pred_x0")


class LatentTrajectory:
    """PCA of one or several runs' latents (and x̂_0) over the steps, in one shared basis.

    ``LatentTrajectory([trace_a, trace_b], labels=["seed 1", "seed 2"])``; one trace may be
    passed alone. ``image`` picks the batch element of every trace.
    """

    def __init__(self, traces, labels=None, image: int = 0, rows=ROWS, components: int = 2):
        traces = [traces] if hasattr(traces, "steps") else list(traces)
        if not traces:
            raise ValueError("give at least one trace")
        labels = [f"run {k}" for k in range(len(traces))] if labels is None else list(labels)
        if len(labels) != len(traces):
            raise ValueError(f"{len(labels)} labels for {len(traces)} traces; give one each")
        unknown = [r for r in rows if r not in ROWS]
        if unknown:
            raise ValueError(f"rows {unknown} unknown; choose from {list(ROWS)}")
        self.labels, self.rows = labels, tuple(rows)
        points = {(label, row): _points(trace, row, image)
                  for trace, label in zip(traces, labels) for row in self.rows}
        dims = {p.shape[1] for p in points.values()}
        if len(dims) != 1:
            raise ValueError(f"the runs have latents of different sizes {sorted(dims)}; compare "
                             "runs made at the same height and width")
        stacked = np.concatenate(list(points.values()))                     # [N, D]
        k = int(components)
        if not 1 <= k <= min(stacked.shape):
            raise ValueError(f"components={components}: use 1 to {min(stacked.shape)}")
        self.mean = stacked.mean(axis=0)                                     # μ [D]
        _, s, vt = np.linalg.svd(stacked - self.mean, full_matrices=False)
        self.components = vt[:k]                                             # [k, D]
        self.explained = (s[:k] ** 2) / np.sum(s ** 2)                       # [k]
        self.paths = {key: self.project(p) for key, p in points.items()}    # [n, k] each
        self.distances = {key: np.linalg.norm(p - p[-1], axis=1)            # to the path's end,
                          for key, p in points.items()}                      # in the full space

    def project(self, latents) -> np.ndarray:
        """Coordinates of latents ``[n, h, w, c]`` or flattened ``[n, D]`` on the components."""
        flat = np.asarray(latents, np.float64).reshape(len(latents), -1)
        return (flat - self.mean) @ self.components.T                         # [n, k]

    def table(self) -> str:
        """Per path: start, end, length in the plane, and the share of the spread shown."""
        rows = [f"PCA of {len(self.labels)} run(s); the {len(self.explained)} components show "
                f"{self.explained.sum():.0%} of the spread "
                f"({', '.join(f'{e:.0%}' for e in self.explained)})"]
        for (label, row), p in self.paths.items():
            step = np.linalg.norm(np.diff(p, axis=0), axis=1).sum()
            start, end = p[0, :2], p[-1, :2]
            rows.append(f"  {label:<12} {row:<8} {len(p):>3} points, from {_point(start)} to "
                        f"{_point(end)}, path length {int(round(float(step)))}")
        return "\n".join(rows)


def _point(xy) -> str:
    """(x, y) in whole units: the plane's coordinates move in their last float32 bits from one
    CPU to another, so printed decimals would not be the same everywhere ("+0", never "-0")."""
    return "(" + ", ".join(f"{int(round(float(v))) + 0:+d}" for v in xy) + ")"


def _points(trace, row: str, image: int) -> np.ndarray:
    """One run's points for ``row``, flattened: float64 ``[n, D]``."""
    try:
        whole = (np.concatenate([trace["steps.0.latents_in"][None], trace.stack("latents_out")])
                 if row == "latents" else trace.stack("pred_x0"))    # [n, B, h, w, c]
    except KeyError as err:
        raise ValueError(f"the trace did not keep what a trajectory needs ({err}); run with "
                         "keep=None or keep=('latents_in', 'latents_out', 'pred_x0')") from None
    if not 0 <= image < whole.shape[1]:
        raise ValueError(f"image={image} is out of range for a batch of {whole.shape[1]}")
    return whole[:, image].reshape(len(whole), -1).astype(np.float64)   # [n, D]
