"""The weekly progress message: queued by the scheduling pass (`rounds tick --at`) at each student's
daily time on ROUNDS_PROGRESS_WEEKDAY, sent by a real RQ worker to the Twilio stand-in; its figures
against a hand-built week; WEEKLY OFF/ON; exactly one a week; at most two segments in every language."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from content.catalog import get_catalog
from content.load import load_content
from content.segments import count, segment_count
from flows.schedule import reschedule
from flows.weekly import KIND, MAX_SEGMENTS, Places, Texts, compose, top_percent
from store.db import session_scope
from store.models import Attempt, Message, Person, Question
from store.settings import Settings
from store.weekly import WeekFigures, Weekly, week_of
from tests.conftest import Phone, drain
from workers.schedule import run_tick

# ISO week 48 of 2026 runs from Monday 23 to Sunday 29 November; week 47 is the one before.
MONDAY = date(2026, 11, 23)
SUNDAY = date(2026, 11, 29)
LAGOS_SUNDAY_0730 = "2026-11-29T06:30:00Z"
FOOTER = "WEEKLY OFF stops these."


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def tick_settings(send_settings):
    with session_scope(send_settings.database_url) as session:
        load_content(session, None, send_settings.clock.now().date())
    return send_settings


def student(settings: Settings, phone: str, **fields) -> int:
    values = {
        "phone": phone,
        "channel": "sms",
        "name": "Amina",
        "timezone": "Africa/Lagos",
        "daily_time": "07:30",
        "track": "step1",
        "country": "NG",
        "status": "active",
        "flow_state": {},
    }
    values.update(fields)
    with session_scope(settings.database_url) as session:
        person = Person(**values)
        session.add(person)
        session.flush()
        reschedule(person, at("2026-11-23T00:00:00Z"))
        return person.id


def question_of(settings: Settings, topic: str, n: int = 0) -> int:
    with session_scope(settings.database_url) as session:
        ids = session.scalars(select(Question.id).where(Question.topic == topic).order_by(Question.id)).all()
        return ids[n]


def answered(
    settings: Settings, person_id: int, day: date, question_id: int, correct: bool, n: int = 0
) -> None:
    """One answered question on local date `day` (asked at noon UTC, answered ten minutes later)."""
    asked = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    with session_scope(settings.database_url) as session:
        session.add(
            Attempt(
                person_id=person_id,
                question_id=question_id,
                source="daily" if n == 0 else f"more:{n}",
                local_date=day,
                asked_at=asked,
                answered_at=asked + timedelta(minutes=10),
                choice="A",
                correct=correct,
                skipped=False,
            )
        )


def weekly_messages(settings: Settings, person_id: int | None = None) -> list[Message]:
    with session_scope(settings.database_url) as session:
        statement = select(Message).where(Message.kind == KIND).order_by(Message.id)
        if person_id is not None:
            statement = statement.where(Message.person_id == person_id)
        messages = list(session.scalars(statement))
        session.expunge_all()
        return messages


def classmates(settings: Settings, track: str, scores: list[int], first: int) -> None:
    """Students of `track` who answered this week, each with that many right (and one wrong)."""
    cardio = question_of(settings, "cardiology")
    for index, score in enumerate(scores):
        pid = student(settings, f"+23480399{first + index:05d}", track=track, daily_time="12:00")
        for n in range(score + 1):
            answered(settings, pid, MONDAY + timedelta(days=n % 6), cardio, n < score, n)


def hand_built_week(settings: Settings) -> int:
    """Amina's weeks: this one 6 answered, 4 right, Monday to Saturday (so a streak of 6 on Sunday),
    cardiology 3/3 and renal 1/3; last week 4 answered, 1 right."""
    pid = student(settings, "+2348031234111")
    cardio, renal = question_of(settings, "cardiology"), question_of(settings, "renal")
    week = [(cardio, True), (cardio, True), (renal, False), (renal, True), (renal, False), (cardio, True)]
    for offset, (question_id, correct) in enumerate(week):
        answered(settings, pid, MONDAY + timedelta(days=offset), question_id, correct)
    for offset, correct in enumerate([True, False, False, False]):
        answered(settings, pid, MONDAY - timedelta(days=7 - offset), renal, correct)
    return pid


def test_the_figures_against_a_hand_built_week(tick_settings, twilio, runner):
    pid = hand_built_week(tick_settings)
    # Nine classmates in step1: two did better than Amina's 4 right (3rd of 10: top 30%).
    classmates(tick_settings, "step1", [5, 6, 1, 1, 1, 0, 2, 3, 4], first=0)
    # Nine in PLAB 1 in all: too few for a place.
    plab = student(tick_settings, "+2348031234222", track="plab1")
    answered(tick_settings, plab, MONDAY, question_of(tick_settings, "cardiology"), True)
    classmates(tick_settings, "plab1", [0, 0, 0, 0, 0, 0, 0, 0], first=100)

    result = runner.invoke(args=["tick", "--at", LAGOS_SUNDAY_0730])
    assert result.exit_code == 0, result.output
    drain(tick_settings)

    (message,) = weekly_messages(tick_settings, pid)
    assert message.body == (
        "Your week on Rounds: 6 answered, 67% right (last week 4, 25%). Day streak: 6. "
        "Strongest: Cardiology. To work on: Renal, text RES renal. "
        "You're in the top 30% of USMLE Step 1 students this week! " + FOOTER
    )
    assert message.idempotency_key == f"weekly:{pid}:2026-W48" and message.status == "sent"
    assert message.segments == 2 == segment_count(message.body)
    (delivered,) = [m for m in twilio.sent if m["Body"] == message.body]
    assert delivered["To"] == "+2348031234111"

    # Nine PLAB 1 students answered this week (under 10): no place; one answer, one topic: no topics.
    (lone,) = weekly_messages(tick_settings, plab)
    assert lone.body == (
        "Your week on Rounds: 1 answered, 100% right (none last week). Day streak: 0. " + FOOTER
    )


def reading(settings: Settings):
    return session_scope(settings.database_url)


def test_the_week_s_figures_set_wise(tick_settings):
    pid = hand_built_week(tick_settings)
    quiet = student(tick_settings, "+2348031234333")
    answered(tick_settings, quiet, MONDAY - timedelta(days=2), question_of(tick_settings, "renal"), True)
    with reading(tick_settings) as session:
        weekly = Weekly(session)
        figures = weekly.figures([pid, quiet], SUNDAY)
        assert figures == {pid: WeekFigures(6, 4, 4, 1, "cardiology", "renal", 6)}  # nothing this week: none
        # The streak as SCORE counts it: up to today or yesterday, broken by a missed day.
        assert weekly.streaks([pid], SUNDAY) == {pid: 6}
        assert weekly.streaks([pid], SUNDAY + timedelta(days=1)) == {pid: 0}  # Sunday missed
        assert weekly.streaks([pid], SUNDAY + timedelta(days=30)) == {}  # no answer days in reach
        assert weekly.track_scores(SUNDAY) == {"step1": Counter({4: 1})}
    answered(tick_settings, pid, SUNDAY, question_of(tick_settings, "renal", 1), True)
    with reading(tick_settings) as session:
        assert Weekly(session).streaks([pid], SUNDAY) == {pid: 7}


def test_a_streak_longer_than_the_first_read_is_counted_in_full(tick_settings):
    pid = student(tick_settings, "+2348031234111")
    cardio = question_of(tick_settings, "cardiology")
    for back in range(40):
        answered(tick_settings, pid, SUNDAY - timedelta(days=back), cardio, True)
    with reading(tick_settings) as session:
        assert Weekly(session).streaks([pid], SUNDAY) == {pid: 40}
        # The figures' mask holds 16 days; a longer run is read again in full.
        assert Weekly(session).figures([pid], SUNDAY)[pid].streak == 40


@pytest.mark.parametrize(
    ("better", "group", "top"),
    [
        (0, 9, None),
        (0, 10, 10),
        (2, 10, 30),
        (4, 10, 50),
        (5, 10, None),
        (0, 100, 1),
        (4, 100, 5),
        (49, 100, 50),
    ],
)
def test_places_are_rounded_top_shares_and_never_for_fewer_than_ten(better, group, top):
    assert top_percent(better, group) == top


def test_a_tie_shares_the_better_place():
    places = Places.of(Counter({7: 3, 5: 4, 2: 3}))
    assert (places.top(7), places.top(5), places.top(2)) == (10, 40, None)


def test_at_the_daily_time_in_each_zone_and_exactly_once_a_week(tick_settings, runner):
    cardio = question_of(tick_settings, "cardiology")
    lagos = student(tick_settings, "+2348031234111")  # 07:30 in Lagos is 06:30 UTC
    lima = student(tick_settings, "+51987654321", timezone="America/Lima", daily_time="19:00", country="PE")
    kolkata = student(
        tick_settings, "+919812345678", timezone="Asia/Kolkata", daily_time="08:00", country="IN"
    )
    idle = student(tick_settings, "+2348031234999")  # answered nothing this week
    for pid in (lagos, lima, kolkata):
        answered(tick_settings, pid, MONDAY + timedelta(days=2), cardio, True)
    answered(tick_settings, idle, MONDAY - timedelta(days=1), cardio, True)

    def tick(instant: str) -> None:
        result = runner.invoke(args=["tick", "--at", instant])
        assert result.exit_code == 0, result.output

    def who() -> list[int]:
        return [m.person_id for m in weekly_messages(tick_settings)]

    tick("2026-11-28T06:30:00Z")  # Saturday at 07:30 in Lagos: a daily question, no summary
    tick("2026-11-29T02:29:00Z")  # a minute before 08:00 in Kolkata
    assert who() == []
    tick("2026-11-29T02:30:00Z")  # Sunday 08:00 in Kolkata
    assert who() == [kolkata]
    tick("2026-11-29T06:30:00Z")  # Sunday 07:30 in Lagos (the idle student's time too)
    tick("2026-11-29T06:30:00Z")  # the same instant again
    assert who() == [kolkata, lagos]
    tick("2026-11-30T00:00:00Z")  # Monday in UTC, still Sunday 19:00 in Lima
    assert who() == [kolkata, lagos, lima]
    # A pass that runs again after its schedule was lost (a crash before the commit moved it on)
    # finds the week's key used.
    with session_scope(tick_settings.database_url) as session:
        session.execute(update(Person).where(Person.id == lagos).values(next_push_at=at(LAGOS_SUNDAY_0730)))
    tick(LAGOS_SUNDAY_0730)
    tick("2026-11-30T06:30:00Z")  # Monday in Lagos
    assert who() == [kolkata, lagos, lima]
    drain(tick_settings)
    assert {m.status for m in weekly_messages(tick_settings)} == {"sent"}

    # Week 49: Lagos answered again, the others did not.
    answered(tick_settings, lagos, date(2026, 12, 1), cardio, False)
    for day in range(1, 7):
        tick(f"2026-12-0{day}T06:30:00Z")
    tick("2026-12-06T02:30:00Z")
    tick("2026-12-07T00:00:00Z")
    summaries = weekly_messages(tick_settings, lagos)
    assert [m.idempotency_key for m in summaries] == [f"weekly:{lagos}:2026-W48", f"weekly:{lagos}:2026-W49"]
    assert summaries[1].body.startswith("Your week on Rounds: 1 answered, 0% right (last week 1, 100%).")
    assert who() == [kolkata, lagos, lima, lagos]


def test_weekly_off_is_honoured_and_on_brings_it_back(tick_settings, client, runner):
    phone = Phone(client, "+2348031234111")
    pid = student(tick_settings, phone.number)
    answered(tick_settings, pid, MONDAY, question_of(tick_settings, "cardiology"), True)
    (off,) = phone.text("weekly off")
    assert off == "Weekly progress off. Text WEEKLY ON to get it again."
    assert segment_count(off) == 1
    runner.invoke(args=["tick", "--at", LAGOS_SUNDAY_0730])
    assert weekly_messages(tick_settings) == []
    with session_scope(tick_settings.database_url) as session:
        daily = session.scalars(
            select(Message).where(Message.kind == "question", Message.person_id == pid)
        ).all()
        assert len(daily) == 1  # the daily question still came

    (on,) = phone.text("WEEKLY ON")
    assert (
        on == "Weekly progress on: a summary of your week comes every Sunday at 07:30. WEEKLY OFF stops it."
    )
    assert segment_count(on) == 1
    (hint,) = phone.text("weekly")
    assert hint == "Text WEEKLY ON for a summary of your week every Sunday, or WEEKLY OFF to stop it."
    answered(tick_settings, pid, date(2026, 12, 2), question_of(tick_settings, "cardiology", 1), True)
    runner.invoke(args=["tick", "--at", "2026-12-06T06:30:00Z"])
    assert [m.idempotency_key for m in weekly_messages(tick_settings)] == [f"weekly:{pid}:2026-W49"]


def test_paused_opted_out_and_quiet_students_get_none(tick_settings):
    cardio = question_of(tick_settings, "cardiology")
    paused = student(tick_settings, "+2348031234111")
    stopped = student(tick_settings, "+2348031234222")
    for pid in (paused, stopped):
        answered(tick_settings, pid, MONDAY, cardio, True)
    with session_scope(tick_settings.database_url) as session:
        session.get(Person, paused).status = "paused"
        session.get(Person, paused).paused_until = at("2026-12-10T00:00:00Z")
        session.get(Person, stopped).opt_out()
        # Due at their time by the index, though their state says no (a stale schedule).
        session.execute(update(Person).values(next_push_at=at(LAGOS_SUNDAY_0730)))
    run_tick(tick_settings, at(LAGOS_SUNDAY_0730))
    assert weekly_messages(tick_settings) == []


def test_another_weekday_by_configuration(tick_settings):
    wednesday = tick_settings.with_(progress_weekday=2)
    pid = student(tick_settings, "+2348031234111")
    answered(tick_settings, pid, MONDAY, question_of(tick_settings, "cardiology"), True)
    run_tick(wednesday, at("2026-11-24T06:30:00Z"))  # Tuesday
    assert weekly_messages(tick_settings) == []
    run_tick(wednesday, at("2026-11-25T06:30:00Z"))  # Wednesday
    (message,) = weekly_messages(tick_settings)
    assert message.body.startswith("Your week on Rounds: 1 answered, 100% right")


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("track", ["step1", "step2ck", "plab1", "general"])
def test_every_part_fits_two_sms_segments_in_every_language(settings, language, track):
    catalog = get_catalog(settings.content_path)
    person = Person(id=1, phone="+2348031234111", channel="sms", language=language, track=track)
    longest = WeekFigures(1250, 1249, 1250, 1249, "Biostats/ethics", "infectious", 128)
    names = {"infectious": "Infectious dis.", "Biostats/ethics": "Biostats/ethics"}
    text = compose(Texts(catalog), person, longest, 50, "ECG 14/14", names.__getitem__)
    assert segment_count(text) <= MAX_SEGMENTS and count(text).encoding == "GSM-7"
    # Everything is there, even at its longest.
    assert "128" in text and "Biostats/ethics" in text and "14/14" in text and "50" in text
    assert "WEEKLY OFF" in text


def test_a_part_that_does_not_fit_is_left_out(settings):
    catalog = get_catalog(settings.content_path)
    person = Person(id=1, phone="+2348031234111", channel="sms", language="fr", track="step2ck")
    figures = WeekFigures(12, 9, 10, 5, "obgyn", "haematology", 3)
    label = "Programme de lecture de l'ECG, jour 14 sur 14, avec une tres longue etiquette " * 2
    text = compose(Texts(catalog), person, figures, 10, label, lambda key: key.title() * 6)
    assert segment_count(text) <= MAX_SEGMENTS
    assert "ObgynObgyn" not in text and "WEEKLY OFF" in text


def test_week_of_is_the_iso_week():
    assert week_of(SUNDAY) == (MONDAY, SUNDAY) == week_of(MONDAY)
    assert SUNDAY.isocalendar()[1] == 48


def test_outbox_rows_in_bulk_are_cleaned_timed_in_utc_and_never_twice(tick_settings):
    from workers.outbox import message_row, queue_many_messages

    pid = student(tick_settings, "+2348031234111")
    made = at("2026-11-29T06:30:00Z")
    with session_scope(tick_settings.database_url) as session:
        person = session.get(Person, pid)
        rows = [
            message_row(person, "Your week\x00 so far", KIND, f"weekly:{pid}:test", now=made),
            message_row(person, "Another", KIND, f"weekly:{pid}:other", now=made),
        ]
        first = queue_many_messages(session, rows)
    with session_scope(tick_settings.database_url) as session:
        assert queue_many_messages(session, rows) == []
    stored = weekly_messages(tick_settings, pid)
    assert [m.id for m in stored] == sorted(first) and len(first) == 2
    assert [m.body for m in stored] == ["Your week so far", "Another"]
    assert {m.created_at for m in stored} == {made} and {m.status for m in stored} == {"queued"}


@pytest.mark.parametrize(
    ("raw", "weekday"), [("", 6), ("sunday", 6), ("Wednesday", 2), ("wed", 2), ("MON", 0), ("3", 3)]
)
def test_the_weekday_is_read_by_name_or_number(raw, weekday):
    assert Settings.from_env({"ROUNDS_PROGRESS_WEEKDAY": raw}, dotenv=False).progress_weekday == weekday


@pytest.mark.parametrize("raw", ["someday", "7", "su", "-1"])
def test_a_weekday_that_is_none_stops_the_start(raw):
    with pytest.raises(ValueError, match="ROUNDS_PROGRESS_WEEKDAY"):
        Settings.from_env({"ROUNDS_PROGRESS_WEEKDAY": raw}, dotenv=False)


def test_french_and_spanish_students_get_theirs_in_two_segments_by_sms(tick_settings, runner):
    cardio, renal = question_of(tick_settings, "cardiology"), question_of(tick_settings, "renal")
    french = student(tick_settings, "+2250701234567", language="fr", country="CI", timezone="Africa/Lagos")
    spanish = student(tick_settings, "+51987654322", language="es", country="PE", timezone="Africa/Lagos")
    for pid in (french, spanish):
        answered(tick_settings, pid, MONDAY, cardio, True)
        answered(tick_settings, pid, MONDAY + timedelta(days=1), renal, False)
        answered(tick_settings, pid, MONDAY - timedelta(days=3), renal, True)
    runner.invoke(args=["tick", "--at", LAGOS_SUNDAY_0730])
    (fr,) = weekly_messages(tick_settings, french)
    (es,) = weekly_messages(tick_settings, spanish)
    assert fr.body == (
        "Votre semaine : 2 réponses, 50 % justes (semaine passée : 1, 100 %). Jours de suite : 0. "
        "Point fort : Cardiology. A revoir : Renal (RES renal). WEEKLY OFF pour arreter."  # ê folded for SMS
    )
    assert es.body == (
        "Tu semana en Rounds: 2 respondidas, 50% de aciertos (semana pasada: 1, 100%). Racha: 0. "
        "Tu mejor tema: Cardiology. A reforzar: Renal, escribe RES renal. WEEKLY OFF para pararlo."
    )
    for message in (fr, es):
        assert message.encoding == "GSM-7" and message.segments <= MAX_SEGMENTS
        assert message.segments == segment_count(message.body)


def test_erasure_removes_the_switch(tick_settings):
    from gateway.admin.people import erase_person
    from store.weekly import WeeklyProgressSwitch

    pid = student(tick_settings, "+2348031234111")
    with session_scope(tick_settings.database_url) as session:
        Weekly(session).switch(pid, False, at(LAGOS_SUNDAY_0730))
    with session_scope(tick_settings.database_url) as session:
        assert not Weekly(session).is_on(pid)
        erase_person(session, session.get(Person, pid), at(LAGOS_SUNDAY_0730))
    with session_scope(tick_settings.database_url) as session:
        assert session.get(WeeklyProgressSwitch, pid) is None


def test_an_enrolled_student_s_week_names_the_program_day(tick_settings, runner):
    from store.programs import LEFT, Enrolment, Program
    from store.weekly import program_day_labels
    from tests.programs_support import load_with_fixture

    load_with_fixture(tick_settings)
    pid = student(tick_settings, "+2348031234333")
    gone = student(tick_settings, "+2348031234334")
    with session_scope(tick_settings.database_url) as session:
        program = session.execute(select(Program).where(Program.code == "TST")).scalar_one()
        session.add(Enrolment(person_id=pid, program_id=program.id, day=3))
        session.add(Enrolment(person_id=gone, program_id=program.id, day=2, status=LEFT))
        days = program.days
    with session_scope(tick_settings.database_url) as session:
        assert program_day_labels(session, [pid, gone]) == {pid: f"TST 3/{days}"}
    answered(tick_settings, pid, MONDAY, question_of(tick_settings, "cardiology"), True)

    result = runner.invoke(args=["tick", "--at", LAGOS_SUNDAY_0730])
    assert result.exit_code == 0, result.output
    (message,) = weekly_messages(tick_settings, pid)
    assert f"Program: TST 3/{days}." in message.body


def expected_week(rows: list[tuple[int, str, date, bool]], topics: list[str], today: date) -> dict:
    """Each student's week worked out by hand from their answers (person, topic, local date, right),
    as SCORE and the message's rules say: (answered, right, last week's two, strongest, weakest,
    streak) for everyone who answered this week; `topics` is the bank's, in order (ties go to the first)."""
    monday = today - timedelta(days=today.weekday())
    last_monday = monday - timedelta(days=7)
    found = {}
    for pid in sorted({row[0] for row in rows}):
        mine = [row for row in rows if row[0] == pid]
        week = [row for row in mine if monday <= row[2] <= today]
        if not week:
            continue
        last = [row for row in mine if last_monday <= row[2] < monday]
        strength = {}
        for topic in {row[1] for row in week}:
            n = sum(1 for row in week if row[1] == topic)
            c = sum(1 for row in week if row[1] == topic and row[3])
            strength[topic] = (c + 1) * 1_000_000 // (n + 3)
        strongest = max(strength, key=lambda t: (strength[t], -topics.index(t)))
        weakest = min(strength, key=lambda t: (strength[t], topics.index(t)))
        if strength[strongest] == strength[weakest]:
            strongest = weakest = None
        days = {row[2] for row in mine}
        start = today if today in days else today - timedelta(days=1)
        streak = 0
        while start - timedelta(days=streak) in days:
            streak += 1
        found[pid] = WeekFigures(
            len(week),
            sum(1 for row in week if row[3]),
            len(last),
            sum(1 for row in last if row[3]),
            strongest,
            weakest,
            streak,
        )
    return found


def expected_text(
    settings: Settings, person: Person, week: WeekFigures, place: int | None, program: str | None
) -> str:
    """The message as the catalog's templates say, filled, joined, then rendered for the channel as
    a whole and fitted to two segments: written out plainly, apart from the pass's caches."""
    from content.segments import for_channel, truncate_to
    from flows.onboarding import TRACK_NAMES
    from flows.resources import load_taxonomy

    catalog = get_catalog(settings.content_path)
    names = {topic.key: topic.name for topic in load_taxonomy(settings.content_path)}
    language, channel = person.language or "en", person.channel
    values: dict[str, object] = {
        "answered": week.answered,
        "accuracy": round(100 * week.correct / week.answered),
        "streak": week.streak,
    }
    head = "weekly_progress_new"
    if week.last_answered:
        head = "weekly_progress"
        values.update(
            last_answered=week.last_answered,
            last_accuracy=round(100 * week.last_correct / week.last_answered),
        )
    optional = []
    if week.strongest and week.weakest:
        optional.append("weekly_topics")
        values.update(
            strongest=names.get(week.strongest, week.strongest.title()),
            weakest=names.get(week.weakest, week.weakest.title()),
            topic_key=week.weakest,
        )
    if program:
        optional.append("weekly_program")
        values["program"] = program
    if place is not None and person.track:
        optional.append("weekly_place")
        values.update(top=place, track=TRACK_NAMES[person.track])

    def filled(keys: list[str]) -> str:
        return for_channel(
            " ".join(catalog.template(k, language).strip().format(**values) for k in keys), channel
        )

    for left in range(len(optional) + 1):
        text = filled([head, *optional[left:], "weekly_footer"])
        if segment_count(text) <= MAX_SEGMENTS:
            return text
    return truncate_to(filled([head]), MAX_SEGMENTS)


def test_every_student_s_message_in_a_mixed_pass_is_the_one_written_out_by_hand(tick_settings, runner):
    """48 students in three languages, on SMS and WhatsApp, in four tracks, with a random fortnight
    of answers: each gets exactly the message the templates give for their own week, in the
    segments and encoding that text costs, under this week's key; the few who answered nothing this
    week get none."""
    import random

    from store.programs import Enrolment, Program
    from tests.programs_support import load_with_fixture

    load_with_fixture(tick_settings)
    rng = random.Random(15)
    with session_scope(tick_settings.database_url) as session:
        bank = session.execute(select(Question.id, Question.topic).order_by(Question.id)).all()
        program = session.execute(select(Program).where(Program.code == "TST")).scalar_one()
        program_label = f"TST 4/{program.days}"
        program_id = program.id
    people = []
    for n in range(48):
        language, channel = ("en", "fr", "es")[n % 3], ("sms", "whatsapp")[n // 3 % 2]
        track = ("step1", "step2ck", "plab1", "general")[n // 6 % 4]
        country = {"en": "NG", "fr": "CI", "es": "PE"}[language]
        people.append(
            student(
                tick_settings,
                f"+23480312{n:05d}",
                language=language,
                channel=channel,
                track=track,
                country=country,
            )
        )
    rows = []
    with session_scope(tick_settings.database_url) as session:
        session.add(Enrolment(person_id=people[7], program_id=program_id, day=4))
        for index, pid in enumerate(people):
            odds = 0.0 if index % 16 == 5 else 0.75  # three answer nothing this week or last
            for back in range(14):
                day = SUNDAY - timedelta(days=back)
                for n in range(rng.choice((1, 1, 2, 3)) if rng.random() < odds else 0):
                    question_id, topic = bank[rng.randrange(len(bank))]
                    right = rng.random() < 0.6
                    rows.append((pid, topic, day, right))
                    asked = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
                        hours=8, minutes=n
                    )
                    session.add(
                        Attempt(
                            person_id=pid,
                            question_id=question_id,
                            source="daily" if n == 0 else f"more:{n}",
                            local_date=day,
                            asked_at=asked,
                            answered_at=asked + timedelta(minutes=5),
                            choice="A",
                            correct=right,
                            skipped=False,
                        )
                    )

    result = runner.invoke(args=["tick", "--at", LAGOS_SUNDAY_0730])
    assert result.exit_code == 0, result.output

    weeks = expected_week(rows, sorted({topic for _, topic in bank}), SUNDAY)
    assert 40 <= len(weeks) < len(people)
    by_track: dict[str, list[int]] = {}
    with session_scope(tick_settings.database_url) as session:
        students = {pid: session.get(Person, pid) for pid in people}
        session.expunge_all()
    for pid, week in weeks.items():
        by_track.setdefault(students[pid].track or "", []).append(week.correct)
    messages = {m.person_id: m for m in weekly_messages(tick_settings)}
    assert set(messages) == set(weeks)
    shapes = Counter()
    for pid, week in weeks.items():
        person, message = students[pid], messages[pid]
        scores = by_track[person.track or ""]
        place = top_percent(sum(1 for score in scores if score > week.correct), len(scores))
        text = expected_text(tick_settings, person, week, place, program_label if pid == people[7] else None)
        assert message.body == text, (person.language, person.channel, week, place)
        counted = count(text)
        assert (message.segments, message.encoding) == (counted.segments, counted.encoding)
        assert message.segments <= MAX_SEGMENTS and message.channel == person.channel
        assert message.idempotency_key == f"weekly:{pid}:2026-W48" and message.status == "queued"
        shapes[(person.language, person.channel, "Strong" in text or "fort" in text or "mejor" in text)] += 1
    # The pass covered every language on both channels, with and without the topics.
    assert {(language, channel) for language, channel, _ in shapes} == {
        (language, channel) for language in ("en", "fr", "es") for channel in ("sms", "whatsapp")
    }
    assert {topics for _, _, topics in shapes} == {True, False}
