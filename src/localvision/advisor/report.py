"""The comparison as one self-contained HTML page: cost curves with break-even markers,
latency and accuracy bars, and the factors the numbers do not capture."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["write_html"]

_COLOURS = {"local": "#2f9e57", "google": "#3b7dd8", "aws": "#e08a1e", "azure": "#8a4fd1"}
_W, _H, _PAD = 760, 380, 84


def _svg_curves(report: dict[str, Any]) -> str:
    curves = report["curves"]
    volumes = curves["volumes"]
    series = {k: v for k, v in curves.items() if k != "volumes"}
    values = [c for line in series.values() for c in line if c > 0]
    y_low, y_high = math.log10(max(min(values), 0.1)), math.log10(max(values))
    x_low, x_high = math.log10(volumes[0]), math.log10(volumes[-1])

    def x(v: float) -> float:
        return _PAD + (math.log10(v) - x_low) / (x_high - x_low) * (_W - 2 * _PAD)

    def y(c: float) -> float:
        span = (y_high - y_low) or 1
        return _H - _PAD - (math.log10(max(c, 0.1)) - y_low) / span * (_H - 2 * _PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'role="img" aria-label="monthly cost against volume">'
    ]
    for exponent in range(math.ceil(x_low), math.floor(x_high) + 1):
        px = x(10**exponent)
        parts.append(
            f'<line x1="{px:.1f}" y1="{_PAD}" x2="{px:.1f}" y2="{_H - _PAD}" stroke="#eee"/>'
            f'<text x="{px:.1f}" y="{_H - _PAD + 18}" font-size="11" text-anchor="middle">'
            f"1e{exponent}</text>"
        )
    for exponent in range(math.ceil(y_low), math.floor(y_high) + 1):
        py = y(10**exponent)
        parts.append(
            f'<line x1="{_PAD}" y1="{py:.1f}" x2="{_W - _PAD}" y2="{py:.1f}" stroke="#eee"/>'
            f'<text x="{_PAD - 6}" y="{py + 4:.1f}" font-size="11" text-anchor="end">'
            f"${10**exponent:,.0f}</text>"
        )
    for name, line in series.items():
        points = " ".join(f"{x(v):.1f},{y(c):.1f}" for v, c in zip(volumes, line, strict=True))
        colour = _COLOURS.get(name, "#555")
        parts.append(
            f'<polyline class="curve" data-option="{html.escape(name)}" fill="none" '
            f'stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
    for provider, volume in report["break_even"].items():
        if volume:
            cost = report["curves"][provider][
                min(range(len(volumes)), key=lambda i: abs(volumes[i] - volume))
            ]
            parts.append(
                f'<circle class="break-even" data-provider="{html.escape(provider)}" '
                f'cx="{x(volume):.1f}" cy="{y(cost):.1f}" r="5" fill="none" '
                f'stroke="#c00" stroke-width="2"><title>break-even with {provider}: '
                f"{volume:,.0f} images/month</title></circle>"
            )
    stated = report["volume_per_month"]
    if volumes[0] <= stated <= volumes[-1]:
        parts.append(
            f'<line x1="{x(stated):.1f}" y1="{_PAD}" x2="{x(stated):.1f}" '
            f'y2="{_H - _PAD}" stroke="#999" stroke-dasharray="4 4"/>'
        )
    parts.append(
        f'<text x="{_W / 2}" y="{_H - 12}" font-size="12" text-anchor="middle">'
        "images per month</text></svg>"
    )
    return "".join(parts)


def _bars(rows: list[tuple[str, float, str]], scale: float) -> str:
    out = []
    for label, value, text in rows:
        width = 0 if scale <= 0 else min(100.0, 100 * value / scale)
        out.append(
            f'<tr><th>{html.escape(label)}</th><td style="width:260px">'
            f'<div class="bar" style="width:{width:.1f}%">&nbsp;</div></td>'
            f"<td>{html.escape(text)}</td></tr>"
        )
    return "<table>" + "".join(out) + "</table>"


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no "</" can close it early."""
    return json.dumps(value).replace("</", "<\\/")


def _histogram(label: str, samples: list[float], colour: str, bins: int = 20) -> str:
    """One latency distribution as a small SVG histogram (milliseconds on the x axis)."""
    if not samples:
        return ""
    low, high = min(samples), max(samples)
    span = (high - low) or 1.0
    counts = [0] * bins
    for value in samples:
        counts[min(bins - 1, int((value - low) / span * bins))] += 1
    tallest = max(counts)
    width, height = 300, 60
    bars = "".join(
        f'<rect class="hist" x="{i * width / bins:.1f}" y="{height - height * c / tallest:.1f}" '
        f'width="{width / bins - 1:.1f}" height="{height * c / tallest:.1f}" fill="{colour}"/>'
        for i, c in enumerate(counts)
        if c
    )
    return (
        f"<figure><figcaption>{html.escape(label)}: {len(samples)} calls, "
        f"{low:.1f}–{high:.1f} ms</figcaption>"
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">{bars}</svg>'
        "</figure>"
    )


def write_html(report: dict[str, Any], target: Path) -> Path:
    esc = html.escape
    legend = " ".join(
        f'<span style="color:{_COLOURS.get(name, "#555")}">&#9632; {esc(name)}</span>'
        for name in report["curves"]
        if name != "volumes"
    )
    latency = [
        (
            m["feature"],
            m["latency_ms"]["p50"],
            f"p50 {m['latency_ms']['p50']:.1f} ms · p95 {m['latency_ms']['p95']:.1f} · "
            f"p99 {m['latency_ms']['p99']:.1f} · {m['throughput_per_s']:.1f}/s",
        )
        for m in report["measurements"]
    ]
    peak = max((row[1] for row in latency), default=1)
    distributions = "".join(
        _histogram(f"local {m['feature']}", m.get("latency_samples_ms", []), "#2f9e57")
        for m in report["measurements"]
    ) + "".join(
        _histogram(f"{name} (all features)", option.get("latency_samples_ms", []),
                   _COLOURS.get(name, "#555"))
        for name, option in report["cloud"].items()
        if option.get("measured")
    )  # fmt: skip
    agreement_rows = [
        (f"{name}: {key.replace('_', ' ')}", value, f"{value:.3f}")
        for name, option in report["cloud"].items()
        if option.get("measured")
        for key, value in option.get("agreement", {}).items()
    ]
    agreement_html = (
        _bars(agreement_rows, 1.0)
        if agreement_rows
        else "<p>No cloud call was made (run with --measure-cloud to measure agreement).</p>"
    )
    accuracy = report["accuracy"]
    if "top1" in accuracy:
        accuracy_html = _bars(
            [
                ("top-1", accuracy["top1"], f"{accuracy['top1']:.1%}"),
                ("top-5", accuracy["top5"], f"{accuracy['top5']:.1%}"),
            ],
            1.0,
        )
    else:
        accuracy_html = f"<p>{esc(accuracy['note'])}</p>"
    rows = []
    for name, option in {"local": report["local"], **report["cloud"]}.items():
        even = report["break_even"].get(name)
        shown = f"{even:,.0f}" if even else ("" if name == "local" else "never in range")
        rows.append(
            f"<tr><th>{esc(name)}</th><td>${option['monthly_cost']:,.2f}</td><td>{shown}</td></tr>"
        )
    costs = "".join(rows)
    factors = "".join(
        f"<tr><th>{esc(f['factor'])}</th><td>{esc(f['local'])}</td><td>{esc(f['cloud'])}</td></tr>"
        for f in report["factors"]
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>localvision compare</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:980px}}
table{{border-collapse:collapse;margin:1em 0}} td,th{{border:1px solid #ddd;padding:4px 8px;
text-align:left}} .bar{{background:#3b7dd8;color:#fff;font-size:12px;padding:2px 4px;
white-space:nowrap}} .rec{{font-size:1.25em;background:#f3f7f3;padding:.8em;border-left:4px solid
#2f9e57}}</style></head><body>
<h1>Local or cloud, at {report["volume_per_month"]:,.0f} images a month</h1>
<p class="rec">{esc(report["recommendation"])}</p>
<p>{esc(report["cloud_note"])} Measured on {report["images"]} images
({report["skipped_images"]} skipped); features: {esc(", ".join(report["features"]))}.</p>
<h2>Monthly cost against volume</h2><p>{legend} · red circles: break-even · dashed: your volume</p>
{_svg_curves(report)}
<table><tr><th>option</th><th>monthly cost at your volume</th><th>break-even with local
(images/month)</th></tr>{costs}</table>
<h2>Latency and throughput here</h2>{_bars(latency, peak)}
<h2>Latency distributions</h2>{distributions}
<h2>Accuracy</h2>{accuracy_html}
<h2>Agreement with the cloud</h2><p>Share of images where the cloud's answer matches the local
one (text: character error rate, lower is closer).</p>{agreement_html}
<h2>What the numbers do not capture</h2>
<table><tr><th></th><th>local</th><th>cloud</th></tr>{factors}</table>
<script type="application/json" id="report">{_script_json(report)}</script>
</body></html>"""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
