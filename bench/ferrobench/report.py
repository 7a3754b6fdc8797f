"""Medians over runs, and the Markdown tables."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

BASELINE = "ferrocorn"


@dataclass
class Measurement:
    """One run of one server on one scenario."""

    rps: float
    requests: int
    p50_ms: float | None
    p99_ms: float | None
    cpu_us_per_req: float | None
    rss_mib: float | None
    new_conn_ms: float | None          # None: no answer within the probe timeout
    new_conn_after_load: bool
    new_conn_error: str | None
    errors: int
    socket_errors: int
    non_2xx: int
    starved_conns: int | None        # open all through the sampling window, yet sent nothing
    load_avg: float
    wrk_cpu_pct: float | None = None  # wrk's CPU over the run, % of its threads' cores

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Row:
    """All runs of one server on one scenario (or why it did not run)."""

    server: str
    label: str
    runs: list[Measurement] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        values = [getattr(m, attr) for m in self.runs]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def spread_pct(self) -> float | None:
        """Half the min-max range of req/s, as a percentage of the median."""
        values = [m.rps for m in self.runs]
        if len(values) < 2 or not statistics.median(values):
            return None
        return (max(values) - min(values)) / 2 / statistics.median(values) * 100

    def new_conn_ms(self) -> float | None:
        """Median probe time; a run with no answer counts as infinitely slow."""
        if not self.runs:
            return None
        return statistics.median(math.inf if m.new_conn_ms is None else m.new_conn_ms for m in self.runs)

    def summary(self) -> dict:
        return {
            "server": self.server, "label": self.label, "runs": len(self.runs),
            "rps": self.median("rps"), "rps_spread_pct": self.spread_pct(),
            "p50_ms": self.median("p50_ms"), "p99_ms": self.median("p99_ms"),
            "cpu_us_per_req": self.median("cpu_us_per_req"), "rss_mib": self.median("rss_mib"),
            "new_conn_ms": _finite_or_none(self.new_conn_ms()),
            "errors_total": sum(m.errors for m in self.runs),
            "starved_conns": self.median("starved_conns"), "wrk_cpu_pct": self.median("wrk_cpu_pct"),
            "failures": self.failures,
        }


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# --- formatting --------------------------------------------------------------------------------

COLUMNS = ["server", "req/s", "spread", "ratio vs ferrocorn", "p50", "p99", "CPU µs/req",
           "RSS MiB", "new-conn ms", "errors", "starved", "wrk CPU"]


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _cpu(value: float | None) -> str:
    """CPU µs per request: one decimal below 20 µs, where servers differ by fractions."""
    return _num(value, 1 if value is not None and value < 20 else 0)


def _wrk_cpu(value: float | None) -> str:
    """The load generator's CPU; a `!` from 95% on: wrk, not the server, set the req/s."""
    if value is None:
        return "–"
    return f"{value:.0f}%" + ("!" if value >= 95 else "")


def _new_conn(row: Row) -> str:
    value = row.new_conn_ms()
    if value is None:
        return "–"
    if math.isinf(value):
        errors = {m.new_conn_error for m in row.runs if m.new_conn_error}
        return "error" if errors else ">10s"
    late = any(m.new_conn_after_load for m in row.runs)
    return f"{value:,.1f}" + ("*" if late else "")


def format_row(row: Row, baseline_rps: float | None) -> list[str]:
    if not row.runs:
        reason = row.failures[0] if row.failures else "no data"
        return [row.label, f"failed: {reason}"] + [""] * (len(COLUMNS) - 2)
    rps = row.median("rps")
    spread = row.spread_pct()
    ratio = f"{rps / baseline_rps:.2f}x" if baseline_rps else "n/a"
    errors = sum(m.errors for m in row.runs)
    failed_runs = f" ({len(row.failures)} run(s) failed)" if row.failures else ""
    return [
        row.label, _num(rps), "–" if spread is None else f"±{spread:.1f}%", ratio,
        _ms(row.median("p50_ms")), _ms(row.median("p99_ms")), _cpu(row.median("cpu_us_per_req")),
        _num(row.median("rss_mib"), 1), _new_conn(row), f"{errors}{failed_runs}",
        _num(row.median("starved_conns")), _wrk_cpu(row.median("wrk_cpu_pct")),
    ]


def markdown_table(rows: list[Row]) -> str:
    baseline = next((r for r in rows if r.server == BASELINE and r.runs), None)
    baseline_rps = baseline.median("rps") if baseline else None
    lines = [COLUMNS] + [format_row(r, baseline_rps) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    right = set(range(1, len(COLUMNS)))

    def fmt(cells: list[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(padded) + " |"

    separator = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
                               for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(lines[0]), separator] + [fmt(line) for line in lines[1:]])
