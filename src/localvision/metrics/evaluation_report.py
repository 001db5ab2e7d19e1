"""The evaluation as a page a person reads: one self-contained HTML file (no scripts or styles
fetched from anywhere), with the numbers embedded as JSON for tools."""

from __future__ import annotations

import html
import json
from pathlib import Path

from .evaluation import OTHER, Evaluation

__all__ = ["html_report"]


def html_report(evaluation: Evaluation, target: Path) -> Path:
    """A self-contained HTML page: headline numbers, the confusion matrix as a heat map, and
    per-class precision/recall/F1 bars."""
    e = evaluation
    esc = html.escape
    columns = [*e.classes, OTHER]
    peak = max((max(row) for row in e.confusion), default=1) or 1
    rows = []
    for label, counts in zip(e.classes if e.confusion else [], e.confusion, strict=True):
        cells = []
        for j, count in enumerate(counts):
            diagonal = j < len(e.classes) and e.classes[j] == label
            shade = count / peak
            colour = f"rgba(40,140,70,{shade:.2f})" if diagonal else f"rgba(200,50,50,{shade:.2f})"
            cells.append(f'<td style="background:{colour}">{count or ""}</td>')
        rows.append(f"<tr><th>{esc(label)}</th>{''.join(cells)}</tr>")
    bars = []
    for c in e.per_class:
        bar = "".join(
            f'<div class="bar {k}" style="width:{100 * c[k]:.1f}%">{k[0].upper()} {c[k]:.2f}</div>'
            for k in ("precision", "recall", "f1")
        )
        bars.append(f"<tr><th>{esc(c['label'])}</th><td>{c['support']}</td><td>{bar}</td></tr>")
    embedded = json.dumps(e.to_dict()).replace("</", "<\\/")  # nothing may close the script
    if e.multi_label:
        confusion_section = (
            "<h2>Confusion matrix</h2><p>Not drawn: in multi-label data an image may belong to "
            "several classes, so per-class precision and recall below say it instead.</p>"
        )
    else:
        header = "".join(f"<th>{esc(c)}</th>" for c in columns)
        confusion_section = (
            "<h2>Confusion matrix</h2><p>Rows: true class. Columns: predicted. Green: right; "
            f"red: wrong.</p><table><tr><th></th>{header}</tr>{''.join(rows)}</table>"
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Evaluation of {esc(e.model)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:4px 8px;text-align:center}} th{{background:#f6f6f6}}
.bar{{height:16px;margin:2px 0;color:#fff;font-size:11px;text-align:left;padding-left:4px;
white-space:nowrap}} .precision{{background:#3b7dd8}} .recall{{background:#e08a1e}}
.f1{{background:#2f9e57}} .num{{font-size:2em;font-weight:600;margin-right:1.5em}}
</style></head><body>
<h1>{esc(e.model)} on {e.count} images</h1>
<p><span class="num">{e.accuracy:.1%}</span>{"exact-set accuracy" if e.multi_label else "accuracy"}
<span class="num">{e.top5:.1%}</span>{"best label right" if e.multi_label else "top-5"}
<span class="num">{e.macro_f1:.3f}</span>macro F1
<span class="num">{e.ece:.3f}</span>calibration error (ECE)</p>
{confusion_section}
<h2>Per class</h2><table><tr><th>class</th><th>images</th><th style="width:420px">
precision / recall / F1</th></tr>{"".join(bars)}</table>
<h2>Skipped</h2><p>{len(e.skipped)} image(s).</p>
<script type="application/json" id="data">{embedded}</script>
</body></html>"""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
