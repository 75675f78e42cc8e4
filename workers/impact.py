"""Impact figures for a date range, by country, channel, track, language or join month (cohort),
read from the rollups in store/impact.py, and the nightly job that keeps them.

Every output (console, report, API, CSV) goes through `impact_report`, which leaves out any group
of fewer than MIN_GROUP learners and only counts it, and builds the equity panel: for each rate,
the best and the worst country (of those shown) and their ratio, flagged above the organisation's
threshold (ROUNDS_EQUITY_RATIO).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from flows.quiz import SCHEDULER
from store.costs import MIN_GROUP
from store.db import session_scope
from store.impact import (
    DIMENSIONS,
    RETENTION_WEEKS,
    clicks,
    day_sums,
    last_rolled,
    learner_figures,
    mentor_pairs,
    roll_up,
    roll_up_days,
)
from store.models import WHATSAPP
from store.settings import Settings
from workers.broadcasts.prices import load_prices

# FSRS's forgetting curve, as the scheduler that keeps the cards has it.
FACTOR, DECAY = float(SCHEDULER._FACTOR), float(SCHEDULER._DECAY)
# Days before yesterday whose counts are rebuilt each night: Twilio's prices arrive late.
REROLL_DAYS = 2
# A month of learning, in days, for cost per learner-month.
MONTH_DAYS = 30
# The week since joining the equity panel reads retention at.
EQUITY_WEEK = 4


@dataclass
class ImpactGroup:
    """One group's figures; rates are fractions (0-1) or None where nobody qualifies."""

    group: str
    learners: int  # in touch with Rounds at some point in the dates
    active_7: int  # texted in the 7 days to the end date
    active_30: int
    answered: int
    correct: int
    gain_learners: int  # learners with 40+ answers, whose first and latest 20 are compared
    first_accuracy: float | None
    latest_accuracy: float | None
    reviewed_learners: int
    retrievability: float | None  # mean FSRS retrievability of their reviewed cards
    retention: list[tuple[int, int]]  # per week since joining: (texted that week, reached it)
    certificates: int
    checkin_replies: int
    mentor_pairs: int
    resource_clicks: int | None  # None: clicks are not kept by this dimension
    opportunity_clicks: int | None
    messages: int
    segments: int
    estimated_cost: float
    actual_cost: float
    priced: int
    learner_months: float

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answered if self.answered else None

    @property
    def gain(self) -> float | None:
        if self.first_accuracy is None or self.latest_accuracy is None:
            return None
        return self.latest_accuracy - self.first_accuracy

    @property
    def cost(self) -> float:
        """What Twilio charged where known, else the estimate."""
        return self.actual_cost if self.priced and self.priced == self.messages else self.estimated_cost

    @property
    def cost_per_learner_month(self) -> float | None:
        return self.cost / self.learner_months if self.learner_months else None

    def retention_at(self, week: int) -> float | None:
        texted, reached = self.retention[week]
        return texted / reached if reached else None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["retention"] = [
            {"week": week, "active": texted, "of": reached}
            for week, (texted, reached) in enumerate(self.retention)
        ]
        out.update(
            accuracy=self.accuracy,
            gain=self.gain,
            cost_per_learner_month=self.cost_per_learner_month,
            estimated_cost=round(self.estimated_cost, 4),
            actual_cost=round(self.actual_cost, 4),
            learner_months=round(self.learner_months, 2),
        )
        return out


@dataclass
class EquityLine:
    figure: str
    best: tuple[str, float]
    worst: tuple[str, float]
    ratio: float | None  # best / worst (worst / best for a cost); None when the worst is 0
    flagged: bool


@dataclass
class ImpactReport:
    by: str
    start: date
    end: date
    currency: str
    as_of: date | None  # the last day the rollup has taken
    min_group: int
    threshold: float
    groups: list[ImpactGroup] = field(default_factory=list)
    suppressed_groups: int = 0
    equity: list[EquityLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "currency": self.currency,
            "min_group": self.min_group,
            "suppressed_groups": self.suppressed_groups,
            "groups": [group.as_dict() for group in self.groups],
            "equity": {
                "threshold": self.threshold,
                "figures": [
                    {
                        "figure": line.figure,
                        "best": {"country": line.best[0], "value": line.best[1]},
                        "worst": {"country": line.worst[0], "value": line.worst[1]},
                        "ratio": line.ratio,
                        "flagged": line.flagged,
                    }
                    for line in self.equity
                ],
            },
        }


def _groups(
    session: Session, settings: Settings, by: str, start: date, end: date
) -> tuple[list[ImpactGroup], int]:
    prices = load_prices(settings)
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in day_sums(session, by, start, end):
        values = row._mapping
        country = values["grp"] if by == "country" else values["country"]
        channel = values["grp"] if by == "channel" else values["channel"]
        price, _source = prices.quote(channel, country)
        units = values["outbound"] if channel == WHATSAPP else values["segments"]
        line = sums[str(values["grp"])]
        for name in ("answered", "correct", "inbound", "outbound", "segments", "actual_cost", "priced"):
            line[name] += values[name] or 0
        line["checkin_replies"] += values["checkin_replies"] or 0
        line["certificates"] += values["certificates"] or 0
        line["estimated_cost"] += (units or 0) * price
    pairs = mentor_pairs(session, by)
    clicked = clicks(session, by, start, end)
    groups, suppressed = [], 0
    for values in learner_figures(session, by, start, end):
        key = str(values["grp"])
        if values["learners"] < MIN_GROUP:
            suppressed += 1
            continue
        line = sums.get(key, defaultdict(float))
        groups.append(
            ImpactGroup(
                group=key,
                learners=int(values["learners"]),
                active_7=int(values["active_7"] or 0),
                active_30=int(values["active_30"] or 0),
                answered=int(line["answered"]),
                correct=int(line["correct"]),
                gain_learners=int(values["gain_learners"] or 0),
                first_accuracy=_float(values["first_accuracy"]),
                latest_accuracy=_float(values["latest_accuracy"]),
                reviewed_learners=int(values["reviewed_learners"] or 0),
                retrievability=_float(values["retrievability"]),
                retention=[
                    (int(values[f"week_{week}"] or 0), int(values[f"of_{week}"] or 0))
                    for week in range(RETENTION_WEEKS)
                ],
                certificates=int(line["certificates"]),
                checkin_replies=int(line["checkin_replies"]),
                mentor_pairs=pairs.get(key, 0),
                resource_clicks=None if clicked is None else clicked.get((key, "resource"), 0),
                opportunity_clicks=None if clicked is None else clicked.get((key, "opportunity"), 0),
                messages=int(line["outbound"]),
                segments=int(line["segments"]),
                estimated_cost=float(line["estimated_cost"]),
                actual_cost=float(line["actual_cost"]),
                priced=int(line["priced"]),
                learner_months=float(values["days_in_touch"] or 0) / MONTH_DAYS,
            )
        )
    return groups, suppressed


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# The equity panel's figures: (name, how to read it from a group, whether higher is better).
EQUITY_FIGURES: tuple[tuple[str, Any, bool], ...] = (
    ("active in 30 days (share)", lambda g: g.active_30 / g.learners if g.learners else None, True),
    (f"retention in week {EQUITY_WEEK}", lambda g: g.retention_at(EQUITY_WEEK), True),
    ("accuracy", lambda g: g.accuracy, True),
    ("latest-20 accuracy", lambda g: g.latest_accuracy, True),
    ("mean retrievability", lambda g: g.retrievability, True),
    ("cost per learner-month", lambda g: g.cost_per_learner_month, False),
)


def equity_panel(countries: list[ImpactGroup], threshold: float) -> list[EquityLine]:
    """For each figure, the best and the worst of the countries shown, and their ratio."""
    lines = []
    for name, read, higher_is_better in EQUITY_FIGURES:
        values = [(group.group, value) for group in countries if (value := read(group)) is not None]
        if len(values) < 2:
            continue
        values.sort(key=lambda item: (item[1], item[0]))
        low, high = values[0], values[-1]
        best, worst = (high, low) if higher_is_better else (low, high)
        top, bottom = (best[1], worst[1]) if higher_is_better else (worst[1], best[1])
        ratio = top / bottom if bottom else None
        lines.append(
            EquityLine(
                figure=name,
                best=(best[0], round(best[1], 4)),
                worst=(worst[0], round(worst[1], 4)),
                ratio=None if ratio is None else round(ratio, 2),
                flagged=ratio is None or ratio > threshold,
            )
        )
    return lines


def impact_report(session: Session, settings: Settings, by: str, start: date, end: date) -> ImpactReport:
    """The figures for `start`..`end` (inclusive UTC dates) by `by`; small groups left out."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    report = ImpactReport(
        by=by,
        start=start,
        end=end,
        currency=load_prices(settings).currency,
        as_of=last_rolled(session),
        min_group=MIN_GROUP,
        threshold=settings.equity_ratio,
    )
    report.groups, report.suppressed_groups = _groups(session, settings, by, start, end)
    countries = report.groups if by == "country" else _groups(session, settings, "country", start, end)[0]
    report.equity = equity_panel(countries, settings.equity_ratio)
    return report


# --- the nightly rollup ---------------------------------------------------------------------------


@dataclass
class RollupReport:
    days: list[str] = field(default_factory=list)
    group_rows: int = 0
    learners: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_rollup(settings: Settings, start: date | None = None, end: date | None = None) -> RollupReport:
    """Roll up `start`..`end` in order, a transaction per day (default: yesterday, and the counts
    of the REROLL_DAYS before it again, for the prices Twilio filled in since)."""
    report = RollupReport()
    yesterday = settings.clock.now().date() - timedelta(days=1)
    if start is None and end is None:
        for back in range(REROLL_DAYS, 0, -1):
            with session_scope(settings.database_url) as session:
                report.group_rows += roll_up_days(session, yesterday - timedelta(days=back))
        start = end = yesterday
    start = start or yesterday
    end = end or yesterday
    day = start
    while day <= end:
        with session_scope(settings.database_url) as session:
            rows, learners = roll_up(session, day, FACTOR, DECAY)
        report.days.append(day.isoformat())
        report.group_rows += rows
        report.learners += learners
        day += timedelta(days=1)
    return report


def parse_dimension(raw: str | None) -> str:
    by = (raw or "country").strip().lower()
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    return by


CSV_HEADER = (
    "by",
    "group",
    "learners",
    "active_7",
    "active_30",
    "answered",
    "accuracy",
    "first_20_accuracy",
    "latest_20_accuracy",
    "gain_learners",
    "mean_retrievability",
    "week_4_retention",
    "certificates",
    "checkin_replies",
    "mentor_pairs",
    "resource_clicks",
    "opportunity_clicks",
    "messages",
    "segments",
    "estimated_cost",
    "actual_cost",
    "priced",
    "learner_months",
    "cost_per_learner_month",
)


def csv_rows(report: ImpactReport) -> list[list[Any]]:
    """The report as CSV rows (the header first); suppressed groups are counted on a last line."""

    def rate(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    rows: list[list[Any]] = [list(CSV_HEADER)]
    for g in report.groups:
        rows.append(
            [
                report.by,
                g.group,
                g.learners,
                g.active_7,
                g.active_30,
                g.answered,
                rate(g.accuracy),
                rate(g.first_accuracy),
                rate(g.latest_accuracy),
                g.gain_learners,
                rate(g.retrievability),
                rate(g.retention_at(EQUITY_WEEK)),
                g.certificates,
                g.checkin_replies,
                g.mentor_pairs,
                "" if g.resource_clicks is None else g.resource_clicks,
                "" if g.opportunity_clicks is None else g.opportunity_clicks,
                g.messages,
                g.segments,
                f"{g.estimated_cost:.4f}",
                f"{g.actual_cost:.4f}",
                g.priced,
                f"{g.learner_months:.2f}",
                rate(g.cost_per_learner_month),
            ]
        )
    if report.suppressed_groups:
        rows.append(
            [report.by, f"({report.suppressed_groups} groups under {report.min_group} learners not shown)"]
        )
    return rows


def default_period(today: date) -> tuple[date, date]:
    """The 90 days to yesterday (today is not rolled up yet)."""
    end = today - timedelta(days=1)
    return end - timedelta(days=DEFAULT_DAYS - 1), end


DEFAULT_DAYS = 90


def impact_period(raw_from: str | None, raw_to: str | None, today: date) -> tuple[date, date]:
    """`from`/`to` as YYYY-MM-DD; missing ones give the 90 days to yesterday (or to `to`)."""
    start, end = default_period(today)
    try:
        if raw_to:
            end = date.fromisoformat(raw_to)
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        if raw_from:
            start = date.fromisoformat(raw_from)
    except ValueError as exc:
        raise ValueError("from and to are dates written YYYY-MM-DD, e.g. 2026-11-01") from exc
    if start > end:
        raise ValueError(f"from ({start.isoformat()}) is after to ({end.isoformat()})")
    if (end - start).days > 3660:
        raise ValueError("a range of at most ten years, please")
    return start, end
