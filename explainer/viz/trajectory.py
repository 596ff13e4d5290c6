"""The latents' path through the loop, in the plane of its two main directions (PCA).

``trajectory_plot(LatentTrajectory([...]))``: one colour per run; a solid line with dots for
x_T -> x_0 (the latents), a dashed line for x̂_0 (the prediction of the end at each step); a
square marks where each path starts and a star where it ends.
"""

from __future__ import annotations

from explainer.viz.figure import new_figure

STYLE = {"latents": dict(linestyle="-", marker="o", markersize=3),
         "pred_x0": dict(linestyle="--", marker=".", markersize=3, alpha=0.8)}
NAMES = {"latents": "x_t", "pred_x0": "x̂_0"}


def trajectory_plot(trajectory, title: str | None = None, size: float = 5.0):
    """The ``LatentTrajectory``'s paths on its first two components."""
    from explainer.explore.trajectory import LatentTrajectory

    if not isinstance(trajectory, LatentTrajectory):
        raise TypeError("trajectory_plot takes a LatentTrajectory: "
                        "LatentTrajectory([trace, ...], labels=[...])")
    if trajectory.components.shape[0] < 2:
        raise ValueError("the trajectory has 1 component; make it with components=2 or more")
    fig, axes = new_figure(1, 1, width=size + 1.5, height=size, layout="constrained")
    ax = axes[0, 0]
    colours = {}
    for (label, row), p in trajectory.paths.items():
        colour = colours.setdefault(label, f"C{len(colours) % 10}")
        ax.plot(p[:, 0], p[:, 1], color=colour, label=f"{label}: {NAMES[row]}", **STYLE[row])
        ax.plot(p[0, 0], p[0, 1], marker="s", color=colour, markersize=7)
        ax.plot(p[-1, 0], p[-1, 1], marker="*", color=colour, markersize=12)
    e = trajectory.explained
    ax.set_xlabel(f"component 1 ({e[0]:.0%} of the spread)")
    ax.set_ylabel(f"component 2 ({e[1]:.0%})")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or "the latents' path, from noise (■) to picture (★)", fontsize=10)
    return fig
