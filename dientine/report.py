"""``dientine report RUN``: one self-contained HTML page for a run directory.

It shows what the run wrote: the summary KPIs (``summary.json`` or ``kpis.json``), every PNG (maps, time series),
network KPI time series (``kpis_network.parquet``), the decision timeline (``decisions.parquet``), the outcome
windows (``outcomes.parquet``: QoS lost against the same-tick all-on comparison, per window), threshold
trajectories (``thresholds.parquet``) and, for a what-if run, the baseline-vs-variant comparison
(``comparison.json``). Figures are matplotlib PNGs embedded as base64, so the page is one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #ddd;margin:4px 0}h2{border-bottom:1px solid #ddd;padding-bottom:4px}
.pos{color:#0a7a2f}.neg{color:#b3261e}
"""


def _fig_to_img(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img src="data:image/png;base64,{data}"><figcaption>{html.escape(path.name)}</figcaption></figure>'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None, limit: int = 500) -> str:
    if not rows:
        return "<p>(none)</p>"
    columns = columns or list(rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows[:limit]:
        cells = []
        for c in columns:
            v = row.get(c, "")
            cls = ' class="num"' if isinstance(v, int | float) else ""
            cells.append(f"<td{cls}>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>… {len(rows) - limit} more rows</p>" if len(rows) > limit else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _summary_section(run: Path) -> str:
    for name in ("summary.json", "kpis.json"):
        path = run / name
        if path.is_file():
            data = _read_json(path)
            rows = [{"KPI": k, "value": v} for k, v in data.items() if not isinstance(v, dict | list)]
            return f"<h2>Summary ({name})</h2>" + _table(rows)
    return ""


def _timeseries_section(run: Path) -> str:
    path = run / "kpis_network.parquet"
    if not path.is_file():
        return ""
    table = pq.read_table(path)
    time_col = next((c for c in ("time_h", "time_s", "tick") if c in table.column_names), None)
    if time_col is None:
        return ""
    t = table.column(time_col).to_numpy()
    if time_col == "time_s":
        t = t / 3600.0
    numeric = [c for c in table.column_names if c not in ("tick", "time_s", "time_h")
               and (pa.types.is_floating(table.schema.field(c).type)
                    or pa.types.is_integer(table.schema.field(c).type))][:12]
    if not numeric:
        return ""
    n = len(numeric)
    fig, axes = plt.subplots((n + 2) // 3, 3, figsize=(14, 3 * ((n + 2) // 3)), squeeze=False)
    for ax, column in zip(axes.ravel(), numeric, strict=False):
        ax.plot(t, table.column(column).to_numpy(zero_copy_only=False), lw=1)
        ax.set_title(column, fontsize=9)
        ax.set_xlabel("time (h)", fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    return "<h2>Network KPIs over time</h2>" + _fig_to_img(fig)


def _decisions_section(run: Path) -> str:
    path = run / "decisions.parquet"
    if not path.is_file():
        return ""
    rows = pq.read_table(path).to_pylist()
    out = f"<h2>Decision timeline ({len(rows)} decisions)</h2>"
    if rows and "time_s" in rows[0] and "action" in rows[0]:
        actions = sorted({str(r["action"]) for r in rows})
        fig, ax = plt.subplots(figsize=(14, 0.5 + 0.35 * len(actions)))
        for i, action in enumerate(actions):
            times = [r["time_s"] / 3600.0 for r in rows if str(r["action"]) == action]
            ax.scatter(times, [i] * len(times), s=10)
        ax.set_yticks(range(len(actions)), actions, fontsize=8)
        ax.set_xlabel("time (h)")
        out += _fig_to_img(fig)
    return out + _table(rows, limit=200)


def _thresholds_section(run: Path) -> str:
    path = run / "thresholds.parquet"
    if not path.is_file():
        return ""
    rows = pq.read_table(path).to_pylist()
    out = "<h2>Threshold trajectories</h2>"
    names = sorted({r["name"] for r in rows})
    if rows and "time_s" in rows[0]:
        fig, axes = plt.subplots(len(names), 1, figsize=(14, 2.2 * max(1, len(names))), squeeze=False)
        for ax, name in zip(axes.ravel(), names, strict=True):
            pts = sorted((r["time_s"] / 3600.0, r["value"]) for r in rows if r["name"] == name)
            ax.step([p[0] for p in pts], [p[1] for p in pts], where="post")
            ax.set_title(name, fontsize=9)
        axes.ravel()[-1].set_xlabel("time (h)")
        fig.tight_layout()
        out += _fig_to_img(fig)
    return out + _table(rows, limit=200)


def _outcomes_section(run: Path) -> str:
    """Outcome windows of the closed loop: QoS lost against the same-tick all-on comparison vs its target."""
    rows = pq.read_table(run / "outcomes.parquet").to_pylist() if (run / "outcomes.parquet").is_file() else None
    if rows is None:
        return ""
    out = "<h2>Outcome windows (QoS lost vs all cells on, energy saved)</h2>"
    if rows:
        fig, ax = plt.subplots(figsize=(14, 3))
        t = [r["time_s"] / 3600.0 for r in rows]
        ax.bar(t, [r["qos_lost_pct"] for r in rows], width=0.8, align="edge", label="QoS lost (pp)")
        ax.plot(t, [r["qos_target_pct"] for r in rows], "r--", label="target")
        ax.set_xlabel("window start (h)")
        ax.legend(fontsize=8)
        out += _fig_to_img(fig)
    cols = [c for c in ("time_s", "time_to_s", "qos_lost_pct", "qos_target_pct", "network_lost_all_on_pct",
                        "rate_p5_mbps", "rate_p5_all_on_mbps", "energy_saved_kwh", "sleeping_cell_ticks",
                        "all_on_exact") if rows and c in rows[0]]
    return out + _table(rows, cols or None, limit=200)


def _comparison_section(run: Path) -> str:
    path = run / "comparison.json"
    if not path.is_file():
        return ""
    data = _read_json(path)
    rows = data.get("rows", [])
    return "<h2>What-if comparison (variant − baseline)</h2>" + _table(rows)


def render_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for the run directory ``run`` (or to ``out``); return its path."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: not a run directory")
    parts = [_summary_section(run), _comparison_section(run), _timeseries_section(run),
             _decisions_section(run), _outcomes_section(run), _thresholds_section(run)]
    pngs = sorted(run.glob("*.png"))
    if pngs:
        parts.append("<h2>Figures</h2>" + "".join(_png(p) for p in pngs))
    for sub in sorted(p for p in run.iterdir() if p.is_dir()):
        sub_pngs = sorted(sub.glob("*.png"))
        if sub_pngs or (sub / "summary.json").is_file():
            parts.append(f"<h2>{html.escape(sub.name)}</h2>" + _summary_section(sub).replace("<h2>", "<h3>")
                         .replace("</h2>", "</h3>") + "".join(_png(p) for p in sub_pngs))
    if not any(parts):
        raise FileNotFoundError(f"{run}: no run outputs found (summary.json, kpis.json, *.parquet, *.png)")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>dientine report: {html.escape(run.name)}"
            f"</title><style>{_STYLE}</style></head><body><h1>dientine report: {html.escape(run.name)}</h1>"
            + "".join(parts) + "</body></html>")
    target = Path(out) if out else run / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
