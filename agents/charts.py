"""Geometry for the dashboard's SVG charts; the templates draw them.

Charts are drawn on the server: no chart library, nothing to download, and each chart
has its numbers in a table beside it for screen readers and for copying.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    width: int
    height: int
    points: str
    dots: list[dict]
    ticks: list[dict]
    labels: list[dict]


def line(
    values: list[float | None],
    labels: list[str],
    *,
    width: int = 640,
    height: int = 180,
    ceiling: float = 1.0,
) -> Line:
    """A line of shares (0 to ceiling) over time; days without data are skipped."""
    left, right, top, bottom = 36, 8, 8, 22
    inner_w, inner_h = width - left - right, height - top - bottom
    step = inner_w / max(1, len(values) - 1)
    dots = []
    for i, value in enumerate(values):
        if value is None:
            continue
        x = left + i * step
        y = top + inner_h * (1 - min(value, ceiling) / ceiling)
        dots.append({"x": round(x, 1), "y": round(y, 1), "value": value, "label": labels[i]})
    ticks = [
        {"y": round(top + inner_h * (1 - share), 1), "label": f"{share * ceiling:.0%}"}
        for share in (0, 0.25, 0.5, 0.75, 1)
    ]
    every = max(1, len(labels) // 6)
    shown = [
        {"x": round(left + i * step, 1), "label": label}
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    return Line(
        width=width,
        height=height,
        points=" ".join(f"{d['x']},{d['y']}" for d in dots),
        dots=dots,
        ticks=ticks,
        labels=shown,
    )


def bars(items: list[tuple[str, float]]) -> list[dict]:
    """Horizontal bars, each as a share of the largest."""
    largest = max((value for _label, value in items), default=0) or 1
    return [
        {"label": label, "value": value, "percent": round(100 * value / largest, 1)}
        for label, value in items
    ]
