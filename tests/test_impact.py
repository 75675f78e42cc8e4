"""Impact figures from the nightly rollups, against a fixture built by hand: every figure is worked
out in the comments next to its assertion, small groups are left out, and the rollup can run twice.

Nigeria (NG): 12 SMS students on Step 1 who joined on 1 October. All text on 2 November (day 1);
six of them ("keen") answer 15 questions on each of 2 November, 3 November and 27 November:
    day 1: right on questions 0-5 (6 of 15); day 2: right on 5-14 (10); day 3: all 15 right.
    first 20 = day 1's 15 (6 right) + day 2's first 5 (none right) -> 6/20 = 0.30
    latest 20 = day 2's last 5 (all right) + day 3's 15 (all right) -> 20/20 = 1.00
The other six answer one question on day 1, right. Each NG student was sent one 2-segment SMS on
day 1; Twilio priced the keen six's (0.10 each) and not yet the others'.
Kenya (KE): 10 WhatsApp students on PLAB 1 in French who joined on 1 November; each texts and
answers one question wrong on 10 November, and was sent one WhatsApp message then.
Ghana (GH): 3 SMS students who text on day 1: under 10, never shown by country.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from store.impact import ImpactDay, LearnerSummary, roll_up
from store.links import LinkClick, ShortLink
from store.mentoring import Pair
from store.models import (
    INBOUND,
    OUTBOUND,
    SMS,
    STUDENT,
    WHATSAPP,
    Attempt,
    Card,
    Message,
    MessageStatus,
    Person,
    Question,
)
from store.programs import Certificate, Enrolment, Program
from workers.broadcasts.prices import load_prices
from workers.impact import DECAY, FACTOR, csv_rows, impact_report

START, END = date(2026, 11, 1), date(2026, 11, 30)
DAY1, DAY2, DAY3, KENYA_DAY = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 27), date(2026, 11, 10)


def at(day: date, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC) + timedelta(minutes=minute)


def student(db, phone: str, country: str, channel: str, track: str, language: str, joined: date) -> Person:
    person = Person(
        phone=phone,
        channel=channel,
        country=country,
        track=track,
        language=language,
        role=STUDENT,
        created_at=at(joined),
    )
    db.add(person)
    db.flush()
    return person


def text_in(db, person: Person, day: date) -> None:
    db.add(
        Message(
            person_id=person.id,
            direction=INBOUND,
            channel=person.channel,
            phone=person.phone,
            body="A",
            status=MessageStatus.RECEIVED,
            created_at=at(day),
        )
    )


def text_out(db, person: Person, day: date, segments: int, cost: float | None) -> None:
    db.add(
        Message(
            person_id=person.id,
            direction=OUTBOUND,
            channel=person.channel,
            phone=person.phone,
            body="Q",
            status=MessageStatus.DELIVERED,
            segments=segments,
            actual_cost=cost,
            created_at=at(day),
            kind="daily",
        )
    )


def answer(db, person: Person, question: Question, day: date, index: int, right: bool) -> None:
    db.add(
        Attempt(
            person_id=person.id,
            question_id=question.id,
            question_version=1,
            source=f"more:{index}",
            local_date=day,
            asked_at=at(day, index),
            answered_at=at(day, index),
            choice="A",
            correct=right,
        )
    )


@pytest.fixture
def population(db):
    question = Question(
        id=1,
        topic="cardiology",
        tracks=["step1"],
        stem="S",
        options={"A": "a", "B": "b"},
        answer="A",
        explanation="E",
    )
    db.add(question)
    db.flush()
    nigeria = [
        student(db, f"+23480312340{i:02d}", "NG", SMS, "step1", "en", date(2026, 10, 1)) for i in range(12)
    ]
    kenya = [
        student(db, f"+25471234560{i:02d}", "KE", WHATSAPP, "plab1", "fr", date(2026, 11, 1))
        for i in range(10)
    ]
    ghana = [
        student(db, f"+23324123450{i:02d}", "GH", SMS, "step1", "en", date(2026, 10, 1)) for i in range(3)
    ]
    keen, casual = nigeria[:6], nigeria[6:]
    for person in nigeria + ghana:
        text_in(db, person, DAY1)
    for person in nigeria:
        text_out(db, person, DAY1, 2, 0.10 if person in keen else None)
    for person in keen:
        text_in(db, person, DAY2)
        text_in(db, person, DAY3)
        for index in range(15):
            answer(db, person, question, DAY1, index, index < 6)
            answer(db, person, question, DAY2, index, index >= 5)
            answer(db, person, question, DAY3, index, True)
        # One reviewed card, last reviewed on day 3 with a stability of 10 days.
        db.add(
            Card(
                person_id=person.id,
                question_id=question.id,
                due=at(DAY3 + timedelta(days=10)),
                state={"stability": 10.0, "last_review": at(DAY3).isoformat()},
                reviews=3,
            )
        )
    for person in casual:
        answer(db, person, question, DAY1, 0, True)
        db.add(Card(person_id=person.id, question_id=question.id, due=at(DAY1), state={}, reviews=0))
    for person in kenya:
        text_in(db, person, KENYA_DAY)
        text_out(db, person, KENYA_DAY, 1, None)
        answer(db, person, question, KENYA_DAY, 0, False)
    # A mentor pair, a check-in reply and a certificate, all for keen[0].
    mentor = Person(phone="+2348099999999", channel=SMS, country="NG", role="mentor", language="en")
    db.add(mentor)
    db.flush()
    pair = Pair(mentor_id=mentor.id, student_id=keen[0].id, number=1)
    db.add(pair)
    db.flush()
    from store.mentoring import CheckIn

    db.add(
        CheckIn(
            pair_id=pair.id,
            student_id=keen[0].id,
            mentor_id=mentor.id,
            week="2026-W45",
            asked_at=at(DAY2),
            answered_at=at(DAY2, 5),
            score=4,
        )
    )
    program = Program(code="ECG", title={"en": "ECG"}, days=14, questions=14)
    db.add(program)
    db.flush()
    enrolment = Enrolment(person_id=keen[0].id, program_id=program.id, status="completed", day=14)
    db.add(enrolment)
    db.flush()
    db.add(
        Certificate(
            code="RND-TEST01",
            enrolment_id=enrolment.id,
            program_id=program.id,
            first_name="Ada",
            issued_on=DAY3,
        )
    )
    # Clicks on short links sent to NG by SMS: 7 on a resource, 2 on an opportunity.
    for kind, count in (("resource", 7), ("opportunity", 2)):
        link = ShortLink(code=f"C{kind[:5]}", kind=kind, target="x", channel=SMS, country="NG")
        db.add(link)
        db.flush()
        db.add(LinkClick(link_id=link.id, day=date(2026, 11, 5), clicks=count))
    db.commit()
    for offset in range((END - START).days + 1):
        roll_up(db, START + timedelta(days=offset), FACTOR, DECAY)
        db.commit()
    return {"keen": keen, "casual": casual, "kenya": kenya}


def by_group(report):
    return {group.group: group for group in report.groups}


def test_figures_by_country_against_the_hand_count(db, settings, population):
    report = impact_report(db, settings, "country", START, END)
    groups = by_group(report)
    assert set(groups) == {"NG", "KE"}  # Ghana's 3 are under 10
    assert report.suppressed_groups == 1
    ng, ke = groups["NG"], groups["KE"]

    assert (ng.learners, ng.active_30, ng.active_7) == (12, 12, 6)  # only the keen six texted from 24 Nov
    assert (ke.learners, ke.active_30, ke.active_7) == (10, 10, 0)
    # Answers: the keen 6 x 45 with 6 + 10 + 15 = 31 right each, the casual 6 one right each.
    assert (ng.answered, ng.correct) == (6 * 45 + 6, 6 * 31 + 6)
    assert (ke.answered, ke.correct) == (10, 0)
    assert ng.gain_learners == 6  # 40 or more answers
    assert ng.first_accuracy == pytest.approx(0.30) and ng.latest_accuracy == pytest.approx(1.00)
    assert ng.gain == pytest.approx(0.70)
    assert ke.gain_learners == 0 and ke.first_accuracy is None and ke.gain is None
    # One card each for the keen six, 1 day after its review at stability 10 (fsrs's formula).
    assert ng.reviewed_learners == 6
    assert ng.retrievability == pytest.approx((1 + FACTOR * 1 / 10) ** DECAY)
    assert ke.reviewed_learners == 0 and ke.retrievability is None
    # Weeks since joining (1 Oct): 2-3 Nov are days 32-33, week 4; 27 Nov is day 57, week 8.
    # Every week up to 8 is reached by 30 Nov (day 60); week 9 (day 63) is not.
    assert ng.retention[4] == (12, 12) and ng.retention[8] == (6, 12)
    assert ng.retention[0] == (0, 12) and ng.retention[9] == (0, 0)
    # Kenya joined 1 Nov; 10 Nov is day 9, week 1; by 30 Nov (day 29) weeks 0-4 are reached.
    assert ke.retention[1] == (10, 10) and ke.retention[4] == (0, 10) and ke.retention[5] == (0, 0)
    assert (ng.certificates, ng.checkin_replies, ng.mentor_pairs) == (1, 1, 1)
    assert (ng.resource_clicks, ng.opportunity_clicks) == (7, 2)
    assert (ke.resource_clicks, ke.opportunity_clicks) == (0, 0)
    # Cost: 12 SMS of 2 segments, 6 priced at 0.10; the estimate is segments x the NG SMS price.
    prices = load_prices(settings)
    assert (ng.messages, ng.segments, ng.priced) == (12, 24, 6)
    assert ng.actual_cost == pytest.approx(0.60)
    assert ng.estimated_cost == pytest.approx(24 * prices.quote(SMS, "NG")[0])
    assert ke.estimated_cost == pytest.approx(10 * prices.quote(WHATSAPP, "KE")[0])
    # Days in touch within the dates: keen 2-27 Nov = 26 days, casual 1 day -> 162 days = 5.4 months.
    assert ng.learner_months == pytest.approx(162 / 30)
    assert ng.cost == ng.estimated_cost  # not every message is priced yet
    assert ng.cost_per_learner_month == pytest.approx(ng.estimated_cost / (162 / 30))
    assert ke.learner_months == pytest.approx(10 / 30)


def test_the_equity_panel_names_the_best_and_worst_country(db, settings, population):
    report = impact_report(db, settings.with_(equity_ratio=1.5), "country", START, END)
    lines = {line.figure: line for line in report.equity}
    active = lines["active in 30 days (share)"]
    assert (active.best, active.worst, active.ratio, active.flagged) == (("NG", 1.0), ("KE", 1.0), 1.0, False)
    retention = lines["retention in week 4"]
    assert retention.best == ("NG", 1.0) and retention.worst == ("KE", 0.0)
    assert retention.ratio is None and retention.flagged  # nobody retained in Kenya: no ratio, flagged
    accuracy = lines["accuracy"]
    assert accuracy.best == ("NG", round(192 / 276, 4)) and accuracy.worst == ("KE", 0.0)
    # A figure only one country has (latest-20 accuracy, retrievability) has no panel line.
    assert "latest-20 accuracy" not in lines and "mean retrievability" not in lines
    cost = lines["cost per learner-month"]
    prices = load_prices(settings)
    ng = 24 * prices.quote(SMS, "NG")[0] / (162 / 30)
    ke = 10 * prices.quote(WHATSAPP, "KE")[0] / (10 / 30)
    cheap, dear = sorted([("NG", ng), ("KE", ke)], key=lambda item: item[1])
    assert cost.best[0] == cheap[0] and cost.worst[0] == dear[0]
    assert cost.ratio == pytest.approx(round(dear[1] / cheap[1], 2))
    assert cost.flagged == (dear[1] / cheap[1] > 1.5)


def test_other_dimensions_and_small_groups(db, settings, population):
    channels = by_group(impact_report(db, settings, "channel", START, END))
    # By channel Ghana's 3 join Nigeria's 12 on SMS: 15, shown.
    assert channels["sms"].learners == 15 and channels["whatsapp"].learners == 10
    assert channels["sms"].resource_clicks == 7
    tracks = by_group(impact_report(db, settings, "track", START, END))
    assert tracks["step1"].learners == 15 and tracks["plab1"].learners == 10
    assert tracks["step1"].resource_clicks is None  # clicks are not kept by track
    languages = impact_report(db, settings, "language", START, END)
    assert {g.group: g.learners for g in languages.groups} == {"en": 15, "fr": 10}
    cohorts = impact_report(db, settings, "cohort", START, END)
    assert {g.group: g.learners for g in cohorts.groups} == {"2026-10": 15, "2026-11": 10}
    # A range that only Kenya's day falls in: Nigeria and Ghana were in touch on 2-3 and 27 Nov.
    narrow = impact_report(db, settings, "country", date(2026, 11, 5), date(2026, 11, 12))
    # The keen six's time in touch spans the range (2-27 Nov), so they count as in touch there.
    assert {g.group: g.learners for g in narrow.groups} == {"KE": 10}
    assert narrow.suppressed_groups == 1  # the keen six alone are under 10


def test_rollup_twice_changes_nothing(db, population):
    days = sorted((row.day, row.country, row.answered, row.segments) for row in db.scalars(select(ImpactDay)))
    learners = sorted(
        (row.person_id, row.answered, row.last_bits, row.weeks_mask, row.active_mask)
        for row in db.scalars(select(LearnerSummary))
    )
    for offset in range(30):
        roll_up(db, START + timedelta(days=offset), FACTOR, DECAY)
    db.commit()
    db.expire_all()
    assert (
        sorted((row.day, row.country, row.answered, row.segments) for row in db.scalars(select(ImpactDay)))
        == days
    )
    assert (
        sorted(
            (row.person_id, row.answered, row.last_bits, row.weeks_mask, row.active_mask)
            for row in db.scalars(select(LearnerSummary))
        )
        == learners
    )


def test_csv_has_every_figure_and_no_small_group(db, settings, population):
    report = impact_report(db, settings, "country", START, END)
    text = io.StringIO()
    csv.writer(text).writerows(csv_rows(report))
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert [row["group"] for row in rows[:2]] == ["KE", "NG"]
    assert rows[1]["learners"] == "12" and rows[1]["latest_20_accuracy"] == "1.0000"
    assert "GH" not in text.getvalue() and "+234" not in text.getvalue()
    assert rows[2]["group"].startswith("(1 groups under 10")


def test_the_nightly_job_rolls_up_yesterday_and_recounts_late_prices(db, settings):
    from store.clock import FixedClock
    from workers.impact import run_rollup

    person = student(db, "+2348031234999", "NG", SMS, "step1", "en", date(2026, 11, 1))
    text_out(db, person, date(2026, 11, 28), 2, None)
    text_in(db, person, date(2026, 11, 28))
    db.commit()
    nightly = settings.with_(clock=FixedClock(datetime(2026, 11, 29, 2, 47, tzinfo=UTC)))
    report = run_rollup(nightly)
    assert report.days == ["2026-11-28"] and report.learners == 1
    db.expire_all()
    assert db.scalar(select(ImpactDay.priced).where(ImpactDay.day == date(2026, 11, 28))) == 0
    # Twilio's price for the 28th arrives; the next night counts it, two days on.
    message = db.scalars(select(Message).where(Message.direction == OUTBOUND)).one()
    message.actual_cost = 0.2
    db.commit()
    assert run_rollup(nightly.with_(clock=FixedClock(datetime(2026, 11, 30, 2, 47, tzinfo=UTC)))).days == [
        "2026-11-29"
    ]
    db.expire_all()
    assert db.scalar(
        select(ImpactDay.actual_cost).where(ImpactDay.day == date(2026, 11, 28))
    ) == pytest.approx(0.2)


def test_api_console_report_cli_and_export_show_the_same_figures(app_settings, population, client, runner):
    from tests.admin_support import bearer, make_admin, make_token, sign_in

    token = make_token(app_settings, "viewer")
    query = "by=country&from=2026-11-01&to=2026-11-30"
    data = client.get(f"/api/v1/impact?{query}", headers=bearer(token)).get_json()
    groups = {g["group"]: g for g in data["groups"]}
    assert set(groups) == {"KE", "NG"} and data["suppressed_groups"] == 1 and data["min_group"] == 10
    assert groups["NG"]["learners"] == 12 and groups["NG"]["latest_accuracy"] == pytest.approx(1.0)
    assert groups["NG"]["retention"][8] == {"week": 8, "active": 6, "of": 12}
    assert data["as_of"] == "2026-11-30" and "+234" not in str(data) and "GH" not in str(data)
    flagged = {f["figure"] for f in data["equity"]["figures"] if f["flagged"]}
    assert "retention in week 4" in flagged
    for bad in ("by=phone", "from=yesterday", "from=2026-12-01&to=2026-11-01"):
        answer = client.get(f"/api/v1/impact?{bad}", headers=bearer(token))
        assert answer.status_code == 400 and answer.get_json()["error"]
    assert client.get("/api/v1/impact").status_code == 401
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/impact" in spec["paths"] and "Impact" in spec["components"]["schemas"]

    make_admin(app_settings, role="viewer")
    sign_in(client)
    for path in (f"/admin/impact?{query}", f"/admin/impact/report?{query}"):
        page = client.get(path)
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "<script" not in html and len(html.encode()) < 150_000
        assert "<td>NG</td>" in html and "<td>GH</td>" not in html and "+234" not in html
        assert "1 group(s) under 10 learners not shown" in html and "gap over the threshold" in html
        assert "<svg" in html
    assert client.get("/admin/impact?by=cohort").status_code == 200
    assert client.get("/admin/impact?to=garbage").status_code == 400

    shown = runner.invoke(args=["impact", "show", "--from", "2026-11-01", "--to", "2026-11-30"])
    assert shown.exit_code == 0, shown.output
    assert "NG\t12\t12\t276\t0.6957\t1.0000\t1.0000\t" in shown.output and "GH" not in shown.output
    exported = runner.invoke(
        args=["export", "impact", "--by", "track", "--from", "2026-11-01", "--to", "2026-11-30"]
    )
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert {row["group"]: row["learners"] for row in rows} == {"plab1": "10", "step1": "15"}


def test_cli_rollup_runs_a_range_of_days(app_settings, runner, db):
    person = student(db, "+2348031234998", "NG", SMS, "step1", "en", date(2026, 11, 1))
    text_in(db, person, date(2026, 11, 3))
    db.commit()
    done = runner.invoke(args=["impact", "rollup", "--from", "2026-11-01", "--to", "2026-11-04"])
    assert done.exit_code == 0, done.output
    assert "rolled up 4 day(s): 1 group row(s), 1 learner(s)" in done.output
