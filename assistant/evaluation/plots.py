"""PNG plots of an evaluation run, drawn with matplotlib's Agg backend (no display needed).

hit@k curve (overall and per group), latency histogram with p50/p95, refusal confusion matrix, and
a heatmap of the main metrics by article or tag. A plot without data (no gold answers, no groups)
is left out. matplotlib is imported only inside `draw_plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assistant.evaluation.metrics import LOWER_IS_BETTER

PLOTS = {
    "hitk": "hit-at-k.png",
    "latency": "latency.png",
    "refusal": "refusals.png",
    "groups": "breakdown.png",
}
GROUP_METRICS = (
    "hit@1",
    "mrr",
    "contains",
    "citation_recall",
    "refusal_recall",
    "answerable_refused_rate",
    "accuracy",
)
GROUP_LABELS = {
    "citation_recall": "citation\nrecall",
    "refusal_recall": "refusal\nrecall",
    "answerable_refused_rate": "answerable\nrefused",
}


def draw_plots(run_dir: Path, records: Sequence[dict], metrics: dict) -> dict[str, str]:
    """Draw the run's plots as PNG files in run_dir; returns {plot: file name} of those drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"font.size": 10, "axes.spines.top": False, "axes.spines.right": False}
    latencies = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    made: dict[str, str] = {}
    with plt.rc_context(style):
        for key, draw in (
            ("hitk", lambda: _hit_at_k(plt, metrics)),
            ("latency", lambda: _latency(plt, latencies, metrics["overall"])),
            ("refusal", lambda: _refusals(plt, metrics["overall"]["refusal_confusion"])),
            ("groups", lambda: _groups(plt, metrics)),
        ):
            fig = draw()
            if fig is not None:
                made[key] = _save(fig, run_dir / PLOTS[key])
            else:  # a plot from an earlier run of this directory would now be wrong
                (run_dir / PLOTS[key]).unlink(missing_ok=True)
    return made


def _hit_at_k(plt, metrics: dict):
    from matplotlib.ticker import PercentFormatter

    overall, k = metrics["overall"], metrics["k"]
    if not k or overall.get("hit@1") is None:
        return None
    ks = list(range(1, k + 1))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    groups = [(n, g) for n, g in sorted(metrics["breakdown"].items()) if g.get("hit@1") is not None]
    colors = plt.get_cmap("tab10")
    for i, (name, group) in enumerate(groups[:10]):
        ax.plot(ks, [group[f"hit@{j}"] for j in ks], lw=1, alpha=0.55, color=colors(i), label=name[:24])
    ax.plot(ks, [overall[f"hit@{j}"] for j in ks], marker="o", lw=3, color="black", label="all")
    for j in ks:
        value = overall[f"hit@{j}"]
        ax.annotate(
            f"{value:.0%}",
            (j, value),
            textcoords="offset points",
            xytext=(0, -15),
            ha="center",
        )
    ax.set(
        xlabel="k (passages retrieved)",
        ylabel="questions with a relevant passage",
        title="Retrieval hit@k",
        xticks=ks,
        ylim=(0, 1.02),
    )
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if groups:
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def _latency(plt, latencies: list[float], overall: dict):
    if not latencies:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.hist(latencies, bins=min(40, max(5, len(latencies) // 5)), color="#8b949e")
    for key, label, color in (
        ("latency_p50_ms", "p50", "#1f6feb"),
        ("latency_p95_ms", "p95", "#d1242f"),
    ):
        ax.axvline(overall[key], color=color, lw=2, label=f"{label} {overall[key]:.1f} ms")
    ax.set(xlabel="latency per question (ms)", ylabel="questions", title="Latency")
    ax.legend(frameon=False)
    return fig


def _refusals(plt, c: dict):
    if not sum(c.values()):
        return None
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    cells = [[c["tn"], c["fp"]], [c["fn"], c["tp"]]]
    for i in range(2):
        total = sum(cells[i]) or 1
        for j in range(2):
            color = "#d8f3dc" if i == j else "#ffd8d8"
            ax.add_patch(plt.Rectangle((j, 1 - i), 1, 1, color=color, ec="white", lw=3))
            ax.text(j + 0.5, 1.55 - i, str(cells[i][j]), ha="center", va="center", fontsize=20)
            ax.text(
                j + 0.5,
                1.25 - i,
                f"{cells[i][j] / total:.0%} of row",
                ha="center",
                va="center",
                fontsize=8,
                color="0.35",
            )
    ax.set(
        xlim=(0, 2),
        ylim=(0, 2),
        xticks=[0.5, 1.5],
        yticks=[1.5, 0.5],
        xticklabels=["answered", "refused"],
        yticklabels=["answerable", "unanswerable"],
        xlabel="the assistant",
        title="Refusals",
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def _groups(plt, metrics: dict):
    groups = metrics["breakdown"]
    keys = [m for m in GROUP_METRICS if any(g.get(m) is not None for g in groups.values())]
    if len(groups) < 2 or not keys:
        return None
    names = sorted(groups)
    values = [[groups[n].get(k) for k in keys] for n in names]
    # colour says good (green) or bad (red), so a rate where less is better is drawn inverted
    grid = [
        [
            float("nan") if v is None else 1 - v if k in LOWER_IS_BETTER else v
            for k, v in zip(keys, row, strict=True)
        ]
        for row in values
    ]
    fig, ax = plt.subplots(figsize=(0.95 * len(keys) + 2.2, 0.4 * len(names) + 1.4))
    # limits beyond 0..1 keep the colours pale, so the numbers on them stay legible
    ax.imshow(grid, cmap="RdYlGn", vmin=-0.4, vmax=1.4, aspect="auto")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, "–" if v is None else f"{v:.0%}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(keys)), [GROUP_LABELS.get(k, k) for k in keys], fontsize=8)
    ax.set_yticks(range(len(names)), [f"{n[:24]} ({groups[n]['n']})" for n in names], fontsize=8)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"By {metrics['breakdown_by']}", pad=28)
    return fig


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
