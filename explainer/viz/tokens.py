"""Tokens as a table: what CLIP actually reads (position, readable piece, id).

Rows are coloured by kind: the start and end tokens, the prompt's own tokens, padding (the
end token repeated up to position 76) and, below the table, the tail that was cut off when
the prompt was longer than 75 tokens (it never reaches the text encoder).
"""

from __future__ import annotations

from explainer.diffusion.inputs import one_tokens
from explainer.viz.figure import new_figure

KIND_COLOURS = {
    "special": "#dde6f3",    # <|startoftext|>, <|endoftext|>
    "word": "#ffffff",       # the prompt's tokens
    "padding": "#ececec",    # end-token padding up to 77
    "truncated": "#f6d5d5",  # cut off: CLIP never sees these
    "more": "#ffffff",       # the "... n more" summary row
}
COLUMNS = ("pos", "piece", "id", "kind")


def token_rows(tokens, show=None) -> list[tuple[str, str, str, str]]:
    """The table's rows as text: ``(position, piece, id, kind)``.

    ``show``: None lists the real positions (start, words, end) and the first padding
    position; an int lists the first ``show`` positions; ``"all"`` lists all of them. Hidden
    positions are summed up in one "..." row; the truncated tail follows, positions 77, 78, ...
    (ids are not kept for it: Tokens stores only its pieces).
    """
    tokens = one_tokens(tokens)
    total = len(tokens.ids)
    if show is None:
        shown = min(total, tokens.n_real + 1)
    elif show == "all":
        shown = total
    elif isinstance(show, int) and not isinstance(show, bool) and show >= 1:
        shown = min(show, total)
    else:
        raise ValueError(f"show={show!r}; use None (real tokens + 1 padding), a positive int "
                         "(that many positions) or 'all'")
    rows = []
    for k in range(shown):
        if k >= tokens.n_real:
            kind = "padding"
        elif k == 0 or k == tokens.n_real - 1:
            kind = "special"
        else:
            kind = "word"
        rows.append((str(k), tokens.pieces[k], str(tokens.ids[k]), kind))
    if shown < total:
        hidden = total - shown
        rows.append(("...", f"{hidden} more", "", "more"))
    for j, piece in enumerate(tokens.truncated):
        rows.append((str(total + j), piece, "", "truncated"))
    return rows


def token_table(tokens, show=None, title: str | None = None):
    """A figure listing a prompt's tokens: position, readable piece, id, kind.

    Args:
        tokens: a ``Tokens`` (``explainer.tokenize(prompt)``, ``trace.tokens[0]``).
        show: which positions to list (see ``token_rows``); None = the real ones + 1 padding.
        title: defaults to the prompt and its counts.

    The prompt's tokens are white, start/end blue, padding grey, the truncated tail red.
    """
    tokens = one_tokens(tokens)
    rows = token_rows(tokens, show)
    if title is None:
        prompt = tokens.prompt if len(tokens.prompt) <= 40 else tokens.prompt[:37] + "..."
        cut = f", {len(tokens.truncated)} truncated" if tokens.truncated else ""
        title = f"{prompt!r}\n{tokens.n_real} real + {tokens.n_padding} padding{cut}"
    fig, axes = new_figure(width=4.2, height=0.7 + 0.2 * (len(rows) + 1))
    ax = axes[0, 0]
    ax.axis("off")
    colours = [[KIND_COLOURS[row[3]]] * len(COLUMNS) for row in rows]
    table = ax.table(cellText=[list(row) for row in rows], colLabels=list(COLUMNS),
                     cellColours=colours, colWidths=[0.12, 0.5, 0.18, 0.2], bbox=(0, 0, 1, 1),
                     cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for (r, _), cell in table.get_celld().items():
        if r > 0 and rows[r - 1][3] in ("padding", "more"):
            cell.get_text().set_color("0.45")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
