"""Cost per student: a cohort onboards, then gets the daily question and answers it for 30 days
(sometimes SCORE or RES), through flows.handle and plan_daily_question in-process on SQLite.

Counts every outbound text's SMS segments and encoding with content.segments.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

import flows
from bench import services
from bench.report import Figure, Results
from content import segments
from content.catalog import get_catalog
from content.load import sync_programs, sync_translations
from content.programs import ProgramDay, ProgramItem, read_program
from content.translations import read_translations
from flows.programs import plan_program_days
from flows.quiz import open_attempt, plan_daily_question
from flows.schedule import push_instant
from store.db import session_factory
from store.learning import Learning
from store.links import CODE_LENGTH
from store.models import Person, Question
from store.settings import Settings
from store.translations import translations_for

DAYS = 30
FIRST_DAY = date(2026, 11, 2)
# Single-zone countries, so onboarding never asks for a zone: Nigeria, Ghana, Kenya, India.
PREFIXES = ("+234803", "+23324", "+254712", "+9198")
ONBOARDING = ("JOIN", "Ada Obi", "1", "7pm")
# How often a student acts on a given day: answers the question, asks for SCORE, asks for RES.
ANSWER_SHARE, SCORE_SHARE, RES_SHARE = 0.9, 0.1, 0.07


@dataclass
class Tally:
    segments: Counter[str] = field(default_factory=Counter)  # by phase: onboarding, daily
    messages: Counter[str] = field(default_factory=Counter)
    gsm7: int = 0
    total: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # segments by kind of message
    kind_messages: Counter[str] = field(default_factory=Counter)  # texts by kind of message
    # Each text is counted as it leaves on this channel (SMS folds the accents GSM-7 lacks).
    channel: str = "sms"
    # Daily questions asked of a French or Spanish student: in their language, and in English.
    translated: int = 0
    untranslated: int = 0

    def add(self, phase: str, kind: str, text: str) -> None:
        counted = segments.count(segments.for_channel(text, self.channel))
        self.segments[phase] += counted.segments
        self.messages[phase] += 1
        self.kinds[kind] += counted.segments
        self.kind_messages[kind] += 1
        self.total += 1
        self.gsm7 += counted.encoding == "GSM-7"


class Cohort:
    """People texting through flows.handle, as the webhook runs it, against one database."""

    def __init__(self, settings: Settings, language: str, size: int, seed: int, channel: str = "sms"):
        self.settings = settings
        self.language = language
        self.channel = channel
        self.catalog = get_catalog(settings.content_path)
        self.sessions = session_factory(settings.database_url)
        self.rng = random.Random(seed)
        self.phones = [f"{PREFIXES[n % len(PREFIXES)]}{seed:02d}{n:05d}" for n in range(size)]
        self.tally = Tally(channel=channel)

    def text(self, session, phone: str, body: str, at: datetime, phase: str, kind: str) -> list[str]:
        person = session.scalar(select(Person).where(Person.phone == phone))
        created = person is None
        if created:
            person = Person(
                phone=phone,
                channel=self.channel,
                language="en",
                role="student",
                status="active",
                flow_state={},
                unreachable=False,
                created_at=at,
                updated_at=at,
            )
            session.add(person)
            session.flush()
        ctx = flows.Context(session, self.catalog, self.settings, at)
        outcome = flows.handle(ctx, person, flows.Inbound(body, self.channel, at), first_contact=created)
        for reply in outcome.replies:
            self.tally.add(phase, kind, reply)
        return outcome.replies

    def onboard(self, day: date) -> None:
        session = self.sessions()
        at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
        for phone in self.phones:
            for body in ONBOARDING:
                self.text(session, phone, body, at, "onboarding", "onboarding")
            if self.language != "en":
                self.text(session, phone, f"LANG {self.language}", at, "onboarding", "onboarding")
        session.commit()
        session.close()

    def live(self, day: date) -> None:
        """One day: the daily question at each student's time, the answer 20 minutes later."""
        session = self.sessions()
        answers = dict(session.execute(select(Question.id, Question.answer)).all())
        for person in session.scalars(select(Person).where(Person.phone.in_(self.phones))):
            at = push_instant(person, day)
            ctx = flows.Context(session, self.catalog, self.settings, at)
            planned = plan_daily_question(ctx, person, at)
            if planned is None:
                continue
            self.tally.add("daily", "daily question", planned[1])
            if self.language != "en":
                translated = Learning(session).translation(planned[0].question_id, self.language)
                self.tally.translated += translated is not None
                self.tally.untranslated += translated is None
            later = at + timedelta(minutes=20)
            attempt = open_attempt(Learning(session), person, later)
            if attempt is not None and self.rng.random() < ANSWER_SHARE:
                right = answers.get(attempt.question_id, "A")
                letter = (
                    right if self.rng.random() < 0.6 else self.rng.choice([x for x in "ABCD" if x != right])
                )
                self.text(session, person.phone, letter, later, "daily", "answer feedback")
            if self.rng.random() < SCORE_SHARE:
                self.text(session, person.phone, "SCORE", later + timedelta(minutes=1), "daily", "SCORE")
            if self.rng.random() < RES_SHARE:
                topic = self.rng.choice(["RES", "RES cardiology", "RES renal"])
                self.text(session, person.phone, topic, later + timedelta(minutes=2), "daily", "RES")
            person.next_push_at = None  # the simulation, not the pass, decides when
        session.commit()
        session.close()


# PUBLIC_URL values the short links are sized with: a subdomain as a deployment might have it,
# and a short domain of the kind link shorteners use.
SHORT_BASES = ("https://rounds.example.org", "https://rnd.to")


@dataclass
class ResPages:
    """Every topic's first RES page for one SMS student: segments, links shown, link lengths."""

    segments: list[int] = field(default_factory=list)
    links: list[int] = field(default_factory=list)
    characters: list[int] = field(default_factory=list)

    @property
    def per_page(self) -> float:
        return sum(self.segments) / len(self.segments)

    @property
    def links_per_segment(self) -> float:
        return sum(self.links) / sum(self.segments)


def res_pages(settings: Settings, language: str, seed: int) -> ResPages:
    """One onboarded SMS student asks `RES <topic>` for every topic that has resources."""
    cohort = Cohort(settings, language, 1, seed)
    cohort.onboard(FIRST_DAY)
    session = cohort.sessions()
    at = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    topics = sorted({t for r in Learning(session).resources() for t in r.topics or []} - {"general"})
    pages = ResPages()
    for topic in topics:
        for reply in cohort.text(session, cohort.phones[0], f"RES {topic}", at, "res", "RES"):
            pages.segments.append(segments.count(reply).segments)
            pages.links.append(reply.count("://"))
            pages.characters.append(len(reply))
    session.commit()
    session.close()
    return pages


def short_link_figures(results: Results, settings: Settings) -> None:
    """RES replies with the real URLs and with short links, side by side, in each language."""
    session = session_factory(settings.database_url)()
    lengths = [len(r.url) for r in Learning(session).resources()]
    session.close()
    for language, seed in (("en", 11), ("fr", 12), ("es", 13)):
        real = res_pages(settings, language, seed)
        results.add(
            Figure(
                "cost",
                f"{language}: RES page per topic, real URLs ({len(real.segments)} topics)",
                "segments/reply",
                [real.per_page],
            )
        )
        real_characters = statistics.mean(real.characters)
        results.add(
            Figure(
                "cost", f"{language}: RES page per topic, real URLs", "characters/reply", [real_characters]
            )
        )
        for n, base in enumerate(SHORT_BASES):
            short = res_pages(settings.with_(public_url=base), language, seed + 10 * (n + 1))
            link = len(f"{base}/r/") + CODE_LENGTH
            results.add(
                Figure(
                    "cost",
                    f"{language}: the same with {link}-character short links ({base})",
                    "segments/reply",
                    [short.per_page],
                    ratio=short.per_page / real.per_page,
                    baseline="real URLs",
                    target="< real URLs",
                    met=short.per_page < real.per_page,
                )
            )
            characters = statistics.mean(short.characters)
            results.add(
                Figure(
                    "cost",
                    f"{language}: the same with {link}-character short links ({base})",
                    "characters/reply",
                    [characters],
                    baseline="real URLs",
                    ratio=characters / real_characters,
                )
            )
            fewer = sum(a < b for a, b in zip(short.segments, real.segments, strict=True))
            results.note(
                "cost",
                f"{language}, short links of {link} characters ({base}): {fewer} of "
                f"{len(real.segments)} RES pages take fewer segments than with the real URLs "
                f"(pages hold at most 3 links and {max(real.segments)} segments here either way)",
            )
    for base in SHORT_BASES:
        link = len(f"{base}/r/") + CODE_LENGTH
        shorter = sum(n <= link for n in lengths)
        results.note(
            "cost",
            f"of the {len(lengths)} bundled resource URLs (median {sorted(lengths)[len(lengths) // 2]} "
            f"characters), {shorter} are no longer than a {link}-character short link ({base}): "
            "for those, mostly bare homepages, the short link costs characters instead of saving them",
        )


def simulate(settings: Settings, language: str, size: int, seed: int, channel: str = "sms") -> Tally:
    cohort = Cohort(settings, language, size, seed, channel)
    cohort.onboard(FIRST_DAY - timedelta(days=1))
    for offset in range(DAYS):
        cohort.live(FIRST_DAY + timedelta(days=offset))
    return cohort.tally


# --- a program student ------------------------------------------------------------------------

PROGRAM_DAYS = 14
# The days that carry two questions; the shared format has most days carry one.
TWO_QUESTION_DAYS = (7, 14)
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "programs" / "tst.yaml"
BUNDLED_PROGRAMS = Path(__file__).resolve().parents[1] / "content" / "data" / "programs"


def typical_program(session) -> ProgramItem:
    """A 14-day program of bank questions drawn at random (their lengths are the bank's, 233
    characters on average), one a day but two on days 7 and 14, with the fixture program's lessons
    (130 to 150 characters, the one-segment target) in turn."""
    problems: list = []
    fixture = read_program(FIXTURE, problems)
    assert fixture is not None, problems
    ids = sorted(session.scalars(select(Question.id)))
    rng = random.Random(14)
    days = []
    for number in range(1, PROGRAM_DAYS + 1):
        count = 2 if number in TWO_QUESTION_DAYS else 1
        lesson = fixture.days[(number - 1) % len(fixture.days)].lesson
        days.append(ProgramDay(dict(lesson), tuple(rng.sample(ids, count)), number))
    return ProgramItem("COST", {"en": "Cost check"}, {"en": "-"}, (), {}, tuple(days), FIXTURE)


@dataclass
class ProgramTally:
    by_day: Counter[tuple[str, date]] = field(default_factory=Counter)  # (phone, local date) -> segments
    days_on_program: int = 0
    two_questions: set[tuple[str, date]] = field(default_factory=set)  # days that sent a two-question day
    numbers: dict[tuple[str, date], int] = field(default_factory=dict)  # (phone, local date) -> program day

    def add(self, phone: str, day: date, text: str) -> None:
        # As the send path sends it by SMS: the accents GSM-7 lacks folded (workers/outbox.py).
        self.by_day[phone, day] += segments.count(segments.for_channel(text, segments.SMS)).segments

    def worst_by_number(self) -> dict[int, int]:
        """Program day number -> the most segments any student was sent for it on one day."""
        worst: dict[int, int] = {}
        for key, number in self.numbers.items():
            worst[number] = max(worst.get(number, 0), self.by_day[key])
        return dict(sorted(worst.items()))


def simulate_program(
    settings: Settings, language: str, size: int, seed: int, program: ProgramItem | None = None
) -> ProgramTally:
    """Students JOIN the typical program (or `program`, one of the bundled ones, already loaded), then
    each day get the program day at their daily time and answer each question 20 minutes later (with
    ANSWER_SHARE), for the program's length plus the days missed answers add (a missed day waits)."""
    cohort = Cohort(settings, language, size, seed)
    start = FIRST_DAY - timedelta(days=1)
    cohort.onboard(start)
    tally = ProgramTally()
    session = cohort.sessions()
    # The program open alone (syncing closes the others): the typical one, or a bundled one again
    # after an earlier run closed it.
    program = program or typical_program(session)
    sync_programs(session, [program])
    several = {n for n, day in enumerate(program.days, start=1) if len(day.questions) > 1}
    if program.tracks:  # a track's program (PLAB): its students are on that track
        for person in session.scalars(select(Person).where(Person.phone.in_(cohort.phones))):
            person.track = program.tracks[0]
    session.commit()
    joined = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    for phone in cohort.phones:
        cohort.text(session, phone, f"JOIN {program.code}", joined, "onboarding", "onboarding")
    session.commit()
    answers = dict(session.execute(select(Question.id, Question.answer)).all())
    enrolled = set(cohort.phones)
    for offset in range(len(program.days) * 2):
        day = FIRST_DAY + timedelta(days=offset)
        people = list(session.scalars(select(Person).where(Person.phone.in_(enrolled))))
        for person in people:
            at = push_instant(person, day)
            ctx = flows.Context(session, cohort.catalog, settings, at)
            sent, _ = plan_program_days(ctx, [person], at)
            if not sent:
                enrolled.discard(person.phone)  # finished
                continue
            tally.days_on_program += 1
            tally.add(person.phone, day, sent[0].text)
            number = int(sent[0].text.split(" ", 2)[1].split("/")[0])  # `COST 7/14: ...`
            tally.numbers[person.phone, day] = number
            if number in several:
                tally.two_questions.add((person.phone, day))
            later = at + timedelta(minutes=20)
            while (attempt := open_attempt(Learning(session), person, later)) is not None:
                if cohort.rng.random() >= ANSWER_SHARE:
                    break  # no answer today: the day waits
                right = answers.get(attempt.question_id, "A")
                letter = (
                    right
                    if cohort.rng.random() < 0.6
                    else cohort.rng.choice([x for x in "ABCD" if x != right])
                )
                for reply in cohort.text(session, person.phone, letter, later, "program", "program"):
                    tally.add(person.phone, day, reply)
                later += timedelta(minutes=2)
            person.next_push_at = None
        session.commit()
        if not enrolled:
            break
    session.close()
    return tally


def first_week(tally: ProgramTally) -> float:
    """Segments per student-day over the first week on the program, each day counted whether sent or not."""
    per_student = [
        sum(tally.by_day.get((phone, FIRST_DAY + timedelta(days=d)), 0) for d in range(7)) / 7
        for phone in {phone for phone, _ in tally.by_day}
    ]
    return sum(per_student) / max(len(per_student), 1)


PROGRAM_LANGUAGES = (("en", 4), ("fr", 5), ("es", 6))


def program_figures(results: Results, settings: Settings, size: int) -> None:
    for language, seed in PROGRAM_LANGUAGES:
        tally = simulate_program(settings, language, size, seed)
        per_day = list(tally.by_day.values())
        average = sum(per_day) / max(tally.days_on_program, 1)
        one = [n for key, n in tally.by_day.items() if key not in tally.two_questions]
        two = [n for key, n in tally.by_day.items() if key in tally.two_questions]
        worst, worst_two = max(one, default=0), max(two, default=0)
        over = sum(1 for n in one if n > 4) / max(len(one), 1) * 100
        week = first_week(tally)
        results.add(
            Figure(
                "cost",
                f"{language}: program student, first week ({PROGRAM_DAYS} days, 1 question most days)",
                "segments/day",
                [week],
                target="<= 3.2",
                met=week <= 3.2,
            )
        )
        results.add(
            Figure("cost", f"{language}: program student, per program day sent", "segments/day", [average])
        )
        results.add(
            Figure(
                "cost",
                f"{language}: program student, worst one-question day (days over 4: {over:.1f} %)",
                "segments",
                [worst],
                target="<= 4",
                met=worst <= 4,
            )
        )
        results.add(
            Figure("cost", f"{language}: program student, worst two-question day", "segments", [worst_two])
        )


def bundled_program_figures(results: Results, settings: Settings, size: int) -> None:
    """Each bundled program (content/data/programs) as its students receive it by SMS, per language:
    the worst program day, the days over 4 segments, and the first week's segments per student-day."""
    problems: list = []
    for order, path in enumerate(sorted(BUNDLED_PROGRAMS.glob("*.yaml"))):
        program = read_program(path, problems)
        assert program is not None, problems
        for language, seed in PROGRAM_LANGUAGES:
            # Seeds of their own: a cohort's phone numbers come from its seed.
            tally = simulate_program(settings, language, size, 20 + 3 * order + seed, program)
            worst = tally.worst_by_number()
            over = [number for number, n in worst.items() if n > 4]
            top = max(worst.values(), default=0)
            week = first_week(tally)
            results.add(
                Figure(
                    "cost",
                    f"{language}: {program.code} ({len(program.days)} days), worst program day",
                    "segments",
                    [top],
                    target="<= 4",
                    met=top <= 4,
                )
            )
            results.add(
                Figure(
                    "cost",
                    f"{language}: {program.code}, first week",
                    "segments/day",
                    [week],
                    target="<= 3.2",
                    met=week <= 3.2,
                )
            )
            results.note(
                "cost",
                f"{program.code} {language}: most segments sent for each program day "
                + " ".join(str(n) for n in worst.values())
                + f"; days over 4: {', '.join(map(str, over)) or 'none'}",
            )


# --- French and Spanish students ----------------------------------------------------------------

# Translations of a few bundled Step 1 questions, for when the bank's own are not there yet.
FIXTURE_TRANSLATIONS = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
# The bundled translations are used once at least this many Step 1 questions have both languages.
BUNDLED_POOL_MIN = 30


def translated_pool(url: str) -> tuple[str, list[int]]:
    """Leave active only the Step 1 questions translated into both French and Spanish (the students
    answer Step 1), from the bundled translations if there are enough, else from the fixture ones.

    Returns where the translations came from and the questions left, so that every figure of this
    database, the English baseline's included, is over the same questions.
    """
    session = session_factory(url)()
    step1 = [q.id for q in session.scalars(select(Question)) if "step1" in (q.tracks or [])]
    both = lambda found: sorted({qid for qid, _ in found if (qid, "fr") in found and (qid, "es") in found})  # noqa: E731
    pool = both(translations_for(session, step1, ("fr", "es")))
    source = f"the bundled translations ({len(pool)} Step 1 questions in fr and es)"
    if len(pool) < BUNDLED_POOL_MIN:
        problems: list = []
        items = read_translations(FIXTURE_TRANSLATIONS, problems)
        assert items and not problems, problems
        sync_translations(session, items)
        session.flush()
        pool = both(translations_for(session, step1, ("fr", "es")))
        source = (
            f"fixture translations of {len(pool)} Step 1 questions ({', '.join(map(str, pool))}; "
            "tests/fixtures/translations), since the bank's own were not there yet"
        )
    for question in session.scalars(select(Question)):
        question.active = question.id in pool
    session.commit()
    session.close()
    return source, pool


def translated_figures(results: Results, size: int) -> None:
    """Segments per student-day for French and Spanish students on SMS and on WhatsApp, against
    English students asked the same questions in the same run."""
    with services.sqlite_database("cost-i18n") as url:
        settings = Settings(database_url=url, environment="test")
        source, pool = translated_pool(url)
        baseline: dict[str, float] = {}
        for n, (language, channel) in enumerate(
            (lang, channel) for channel in ("sms", "whatsapp") for lang in ("en", "fr", "es")
        ):
            tally = simulate(settings, language, size, seed=40 + n, channel=channel)
            per_kind = {kind: count / size / DAYS for kind, count in tally.kinds.items()}
            core = per_kind.get("daily question", 0) + per_kind.get("answer feedback", 0)
            total = tally.segments["daily"] / size / DAYS
            label = (
                f"{language} on {'SMS' if channel == 'sms' else 'WhatsApp'}, {size} students x {DAYS} days"
            )
            if language == "en":
                baseline[channel] = core
            results.add(
                Figure(
                    "languages",
                    f"{label}: daily question + feedback ({len(pool)} translated questions)",
                    "segments/day",
                    [core],
                    ratio=core / baseline[channel] if language != "en" else None,
                    baseline="en, same channel" if language != "en" else "",
                    # English: 2 + 1; a translation's: question 2 + feedback 2 (content/translations.py).
                    target=("" if channel != "sms" else "<= 3" if language == "en" else "<= 4"),
                    met=None if channel != "sms" else core <= (3 if language == "en" else 4),
                )
            )
            results.add(Figure("languages", f"{label}: all outbound", "segments/day", [total]))
            results.add(
                Figure(
                    "languages",
                    f"{label}: answer feedback",
                    "segments/day",
                    [per_kind.get("answer feedback", 0)],
                )
            )
            share = tally.gsm7 / tally.total * 100
            results.add(
                Figure("languages", f"{label}: GSM-7 share of {tally.total:,} texts", "%", [share], "%")
            )
            each = {kind: tally.kinds[kind] / max(tally.kind_messages[kind], 1) for kind in tally.kinds}
            results.note(
                "languages",
                f"{language} on {channel}: a daily question is {each.get('daily question', 0):.2f} segments "
                f"on average, its feedback {each.get('answer feedback', 0):.2f}",
            )
            if language != "en":
                asked = tally.translated + tally.untranslated
                results.note(
                    "languages",
                    f"{language} on {channel}: {tally.translated} of {asked} daily questions "
                    f"went out in {language}",
                )
        results.note(
            "languages",
            f"fr/es rows: the questions asked are {source}; every other question was made inactive in "
            "that run's database, and the en rows on the same channel were asked the same questions. SMS "
            "rows count each text as SMS sends it (the accents GSM-7 lacks folded); WhatsApp rows count "
            "the full spelling as segments would be counted were it an SMS (WhatsApp bills per "
            "conversation, not per segment)",
        )


def kind_figures(results: Results, who: str, tally: Tally, size: int) -> None:
    """Segments per student-day by kind of message (daily question, answer feedback, SCORE, RES)."""
    for kind in sorted(tally.kinds, key=lambda k: -tally.kinds[k]):
        if kind == "onboarding":
            continue  # day 0, reported with the onboarding figure
        results.add(
            Figure(
                "cost", f"{who}, {size:,} students: {kind}", "segments/day", [tally.kinds[kind] / size / DAYS]
            )
        )


def run_languages(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    """`python -m bench --only languages`: French and Spanish students' segments, SMS and WhatsApp."""
    translated_figures(results, 30 if quick else 50)


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    size = 200 if quick else 1000
    others = 30 if quick else 50
    with services.sqlite_database("cost") as url:
        settings = Settings(database_url=url, environment="test")
        program_figures(results, settings, others)
        bundled_program_figures(results, settings, 10 if quick else others)
        english = simulate(settings, "en", size, seed=1)
        per_kind = {kind: n / size / DAYS for kind, n in english.kinds.items()}
        core = per_kind.get("daily question", 0) + per_kind.get("answer feedback", 0)
        results.add(
            Figure(
                "cost",
                f"English, {size:,} students x {DAYS} days: daily question + feedback",
                "segments/day",
                [core],
                target="<= 3",
                met=core <= 3,
            )
        )
        total = english.segments["daily"] / size / DAYS
        results.add(
            Figure(
                "cost",
                "English: all outbound, with the SCORE/RES students asked for",
                "segments/day",
                [total],
                target="<= 3",
                met=total <= 3,
            )
        )
        with_onboarding = (english.segments["daily"] + english.segments["onboarding"]) / size / DAYS
        results.add(
            Figure(
                "cost",
                "English: the same plus onboarding (day 0) spread over 30 days",
                "segments/day",
                [with_onboarding],
            )
        )
        share = english.gsm7 / english.total * 100
        results.add(
            Figure(
                "cost",
                f"English: GSM-7 share of {english.total:,} outbound texts",
                "%",
                [share],
                "%",
                target="100%",
                met=share == 100,
            )
        )
        results.note(
            "cost",
            f"each day a student answers with probability {ANSWER_SHARE}, asks SCORE with "
            f"{SCORE_SHARE} and RES with {RES_SHARE}; English segments per student per day by kind: "
            + ", ".join(f"{kind} {n:.2f}" for kind, n in sorted(per_kind.items(), key=lambda x: -x[1])),
        )
        kind_figures(results, "English", english, size)
        short_link_figures(results, settings)
        for language, seed in (("fr", 2), ("es", 3)):
            tally = simulate(settings, language, others, seed=seed)
            kind_figures(results, language, tally, others)
            results.add(
                Figure(
                    "cost",
                    f"{language}, {others} students: all outbound",
                    "segments/day",
                    [tally.segments["daily"] / others / DAYS],
                )
            )
            results.add(
                Figure(
                    "cost",
                    f"{language}: GSM-7 share of {tally.total:,} outbound texts",
                    "%",
                    [tally.gsm7 / tally.total * 100],
                    "%",
                )
            )
