"""Impact figures at scale: 1,000,000 learners and 30,000,000 answers over 90 days, in PostgreSQL.

Loaded with COPY, in the order a live server writes them (day by day; the attempts' secondary
indexes are dropped for the load and built after it, as a restore would). Each day a third of the
learners answer one question. The rollups the 90 days would have left are loaded alongside, worked
out from the very answers written: one `learner_summary` row per learner (first and latest 20
answers, days and weeks texted) and the `impact_days` counts per day and group.

Measured:
- `GET /api/v1/impact?by=country` over the 90 days (through the Flask app, with a token), against
  the naive figure: learners, answers and accuracy by country read from attempts joined to people.
- The nightly rollup end to end (`workers.impact.run_rollup` with the clock at 02:47 UTC): one real
  day after the 90, in which a third of the learners answer and text (three messages each: their
  answer, the feedback and the next question), with ten reviewed FSRS cards each; as the clock runs
  it, it also rebuilds the counts of the two days before.
- EXPLAIN ANALYZE of the rollup's heaviest statements, in RESULTS.md.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Integer, cast, func, select

from bench import services
from bench.population import COUNTRIES, TRACKS, libpq_url
from bench.report import Figure, Results
from store.clock import FixedClock
from store.db import session_scope
from store.impact import GAIN_ANSWERS, LAST_MASK, MASK, MASK_BITS
from store.models import Attempt, Person, Question
from store.settings import Settings

END = date(2026, 11, 30)  # the last of the 90 days the API reads
DAYS = 90
START = END - timedelta(days=DAYS - 1)
DAY = END + timedelta(days=1)  # the day the nightly rollup takes
NIGHT = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(
    hours=2, minutes=47
)
ANSWER_SHARE = 3  # one learner in this many answers on a given day
JOIN_SPREAD = 150  # learners joined in the 150 days before START
LANGUAGES = ("en",) * 7 + ("fr",) * 3 + ("es",) * 2
CARDS = 10  # reviewed FSRS cards per learner in touch on DAY
API_RUNS = 5
NAIVE_RUNS = 1  # over 4 minutes each at 30M attempts on this machine

PEOPLE = (
    "phone, channel, name, language, timezone, country, role, status, track, daily_time, flow_state, "
    "unreachable, created_at, updated_at"
)
ATTEMPTS = "person_id, question_id, source, local_date, asked_at, answered_at, choice, correct, skipped"
SUMMARY = (
    "person_id, country, channel, track, language, cohort, joined, first_day, last_day, active_mask, "
    "mask_day, weeks_mask, answered, first_n, first_correct, last_n, last_bits, last_correct, cards, "
    "retrievability, rolled_day, updated_at"
)
DAYS_COLUMNS = (
    "day, country, channel, track, language, cohort, answered, correct, inbound, outbound, segments, "
    "actual_cost, priced, checkin_replies, certificates"
)
MESSAGES = (
    "person_id, direction, channel, phone, body, kind, status, segments, encoding, num_media, attempts, "
    "actual_cost, created_at, updated_at"
)
CARD_COLUMNS = "person_id, question_id, due, state, reviews, lapses"
# Secondary indexes on attempts built after the load rather than kept during it.
ATTEMPT_INDEXES = (
    (
        "DROP INDEX ix_attempts_person_asked",
        "CREATE INDEX ix_attempts_person_asked ON attempts (person_id, asked_at)",
    ),
    (
        "ALTER TABLE attempts DROP CONSTRAINT uq_attempts_daily",
        "ALTER TABLE attempts ADD CONSTRAINT uq_attempts_daily UNIQUE (person_id, local_date, source)",
    ),
)
MINUTES = [f"{m // 60:02d}:{m % 60:02d}:00" for m in range(1440)]


class Population:
    """The learners' groups and, as their answers are written, what their summaries will say."""

    def __init__(self, count: int, first_id: int) -> None:
        self.count, self.first_id = count, first_id
        self.groups: dict[tuple[str, str, str, str, str], int] = {}
        self.group_of: list[int] = []
        self.joined: list[date] = []
        self.accuracy: list[float] = []
        self.answered = [0] * count
        self.first_correct = [0] * count
        self.last_bits = [0] * count
        self.first_day = [-1] * count
        self.last_day = [-1] * count
        self.active_mask = [0] * count
        self.weeks_mask = [0] * count

    @staticmethod
    def describe(n: int) -> tuple[str, str, str, str, date]:
        """(country, channel, track, language, joined) of learner n (0-based)."""
        joined = START - timedelta(days=1 + (n * 7919) % JOIN_SPREAD)
        return (
            COUNTRIES[n % len(COUNTRIES)],
            "whatsapp" if n % 5 == 0 else "sms",
            TRACKS[(n // 10) % len(TRACKS)],
            LANGUAGES[(n // 3) % len(LANGUAGES)],
            joined,
        )


def load_people(url: str, count: int) -> Population:
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY people ({PEOPLE}) FROM STDIN") as copy:
            for n in range(count):
                country, channel, track, language, joined = Population.describe(n)
                created = datetime.combine(joined, datetime.min.time()) + timedelta(hours=9)
                copy.write_row(
                    (
                        f"+2347{n:09d}",
                        channel,
                        "Learner",
                        language,
                        "Africa/Lagos",
                        country,
                        "student",
                        "active",
                        track,
                        "09:00",
                        "{}",
                        False,
                        created,
                        created,
                    )
                )
        cursor.execute("SELECT min(id) FROM people")
        (first,) = cursor.fetchone() or (1,)
        cursor.execute("ANALYZE people")
    people = Population(count, int(first))
    for n in range(count):
        country, channel, track, language, joined = people.describe(n)
        key = (country, channel, track, language, joined.strftime("%Y-%m"))
        people.group_of.append(people.groups.setdefault(key, len(people.groups)))
        people.joined.append(joined)
        # Equity to find: accuracy differs by country (45% to 72%).
        people.accuracy.append(0.45 + 0.03 * COUNTRIES.index(country))
    return people


def _questions(url: str) -> list[tuple[int, str, str]]:
    with session_scope(url) as session:
        rows = session.execute(select(Question.id, Question.answer)).all()
    return [(int(qid), key, "A" if key != "A" else "B") for qid, key in rows]


def load_attempts(url: str, people: Population, seed: int = 3) -> tuple[int, list[list[int]]]:
    """Day by day, a third of the learners answer; returns the rows written and, per day, the
    answered and right counts per group (flat: [answered, right] * groups)."""
    rng = random.Random(seed)
    questions = _questions(url)
    groups = len(people.groups)
    per_day: list[list[int]] = []
    written = 0
    everyone = range(people.count)
    share = people.count // ANSWER_SHARE
    answered, first_correct, last_bits = people.answered, people.first_correct, people.last_bits
    first_day, last_day, active_mask, weeks_mask = (
        people.first_day,
        people.last_day,
        people.active_mask,
        people.weeks_mask,
    )
    joined_offset = [(START - j).days for j in people.joined]
    group_of, accuracy, first_id = people.group_of, people.accuracy, people.first_id
    random_ = rng.random
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for drop, _create in ATTEMPT_INDEXES:
            cursor.execute(drop)
        cursor.execute("SET session_replication_role = replica")  # no foreign-key trigger per row
        with cursor.copy(f"COPY attempts ({ATTEMPTS}) FROM STDIN") as copy:
            for d in range(DAYS):
                day = START + timedelta(days=d)
                stamp = day.isoformat()
                counts = [0] * (2 * groups)
                active = rng.sample(everyone, share)
                lines = []
                for i, n in enumerate(active):
                    seen = answered[n]
                    right = random_() < accuracy[n] + (0.15 if seen >= GAIN_ANSWERS else 0.0)
                    question, key, wrong = questions[(n + d) % len(questions)]
                    minute = i * 1435 // share
                    lines.append(
                        f"{first_id + n}\t{question}\tdaily\t{stamp}\t{stamp} {MINUTES[minute]}\t"
                        f"{stamp} {MINUTES[minute + 4]}\t{key if right else wrong}\t"
                        f"{'t' if right else 'f'}\tf\n"
                    )
                    if seen < GAIN_ANSWERS:
                        first_correct[n] += right
                    answered[n] = seen + 1
                    last_bits[n] = ((last_bits[n] << 1) | right) & LAST_MASK
                    previous = last_day[n]
                    if previous < 0:
                        first_day[n] = d
                        active_mask[n] = 1
                    else:
                        active_mask[n] = ((active_mask[n] << (d - previous)) | 1) & MASK
                    last_day[n] = d
                    weeks_mask[n] |= 1 << min((d + joined_offset[n]) // 7, MASK_BITS - 1)
                    g = 2 * group_of[n]
                    counts[g] += 1
                    counts[g + 1] += right
                    if len(lines) >= 20_000:
                        copy.write("".join(lines))
                        lines.clear()
                copy.write("".join(lines))
                written += share
                per_day.append(counts)
        cursor.execute("SET session_replication_role = origin")
        for _drop, create in ATTEMPT_INDEXES:
            cursor.execute(create)
        cursor.execute("ANALYZE attempts")
    return written, per_day


def load_rollups(url: str, people: Population, per_day: list[list[int]]) -> int:
    """The learner summaries and day counts the 90 days' rollups would have left (rolled to END)."""
    names = {index: key for key, index in people.groups.items()}
    now = datetime(2026, 12, 1, 2, 47)
    summaries = 0
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(f"COPY learner_summary ({SUMMARY}) FROM STDIN") as copy:
            for n in range(people.count):
                if people.last_day[n] < 0:
                    continue
                country, channel, track, language, cohort = names[people.group_of[n]]
                seen = people.answered[n]
                bits = people.last_bits[n]
                last = START + timedelta(days=people.last_day[n])
                copy.write_row(
                    (
                        people.first_id + n,
                        country,
                        channel,
                        track,
                        language,
                        cohort,
                        people.joined[n],
                        START + timedelta(days=people.first_day[n]),
                        last,
                        people.active_mask[n],
                        last,
                        people.weeks_mask[n],
                        seen,
                        min(seen, GAIN_ANSWERS),
                        people.first_correct[n],
                        min(seen, GAIN_ANSWERS),
                        bits,
                        bin(bits).count("1"),
                        min(seen, CARDS * 3),
                        0.7 + 0.25 * ((n * 31) % 100) / 100,
                        END,
                        now,
                    )
                )
                summaries += 1
        with cursor.copy(f"COPY impact_days ({DAYS_COLUMNS}) FROM STDIN") as copy:
            for d, counts in enumerate(per_day):
                day = START + timedelta(days=d)
                for index, key in names.items():
                    answers, right = counts[2 * index], counts[2 * index + 1]
                    if not answers:
                        continue
                    # One answer in, feedback and the next question out (2 segments each on SMS).
                    segments = 4 * answers if key[1] == "sms" else 2 * answers
                    copy.write_row(
                        (
                            day,
                            *key,
                            answers,
                            right,
                            answers,
                            2 * answers,
                            segments,
                            round(0.04 * segments, 4),
                            2 * answers,
                            0,
                            0,
                        )
                    )
        cursor.execute(
            "INSERT INTO impact_rollups (day, group_rows, learners, rolled_at) "
            "SELECT d::date, 0, 0, now() FROM generate_series(%s::date, %s::date, '1 day') d",
            (START, END),
        )
        cursor.execute("ANALYZE learner_summary; ANALYZE impact_days")
    return summaries


def load_day(url: str, people: Population, seed: int = 9) -> tuple[int, int]:
    """DAY's traffic: a third of the learners answer one question, with three messages and ten
    reviewed cards each; (learners, messages)."""
    rng = random.Random(seed)
    questions = _questions(url)
    share = people.count // ANSWER_SHARE
    active = rng.sample(range(people.count), share)
    stamp = DAY.isoformat()
    messages = 0
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY attempts ({ATTEMPTS}) FROM STDIN") as copy:
            for i, n in enumerate(active):
                question, key, wrong = questions[(n + DAYS) % len(questions)]
                right = rng.random() < people.accuracy[n]
                minute = i * 1435 // share
                copy.write(
                    f"{people.first_id + n}\t{question}\tdaily\t{stamp}\t{stamp} {MINUTES[minute]}\t"
                    f"{stamp} {MINUTES[minute + 4]}\t{key if right else wrong}\t{'t' if right else 'f'}\tf\n"
                )
        with cursor.copy(f"COPY messages ({MESSAGES}) FROM STDIN") as copy:
            for i, n in enumerate(active):
                minute = i * 1435 // share
                channel = "whatsapp" if n % 5 == 0 else "sms"
                segments = 1 if channel == "whatsapp" else 2
                phone = f"+2347{n:09d}"
                person = people.first_id + n
                times = [f"{stamp} {MINUTES[minute + k]}" for k in (0, 1, 4)]
                copy.write(
                    f"{person}\tin\t{channel}\t{phone}\tB\treply\treceived\t1\tGSM-7\t0\t0\t\\N\t{times[0]}\t{times[0]}\n"
                    f"{person}\tout\t{channel}\t{phone}\tRight: B, because ...\treply\tdelivered\t"
                    f"{segments}\tGSM-7\t0\t1\t{0.04 * segments}\t{times[1]}\t{times[1]}\n"
                    f"{person}\tout\t{channel}\t{phone}\tQ: a 54-year-old man ...\tdaily\tdelivered\t"
                    f"{segments}\tGSM-7\t0\t1\t\\N\t{times[2]}\t{times[2]}\n"
                )
                messages += 3
        with cursor.copy(f"COPY cards ({CARD_COLUMNS}) FROM STDIN") as copy:
            for n in active:
                reviewed = f"{stamp}T{MINUTES[(n * 7) % 1400]}+00:00"
                copy.write(
                    "".join(
                        f"{people.first_id + n}\t{questions[(n + k) % len(questions)][0]}\t{stamp} 09:00:00\t"
                        f'{{"stability": {2 + (n + k) % 40}.5, "difficulty": 5, "last_review": "{reviewed}"}}'
                        "\t3\t0\n"
                        for k in range(CARDS)
                    )
                )
        cursor.execute("ANALYZE attempts; ANALYZE messages; ANALYZE cards")
    return share, messages


def naive_by_country(url: str, start: date, end: date) -> list[Any]:
    """The baseline: learners, answers and accuracy by country straight from 90 days of attempts."""
    begin = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    finish = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    with session_scope(url) as session:
        return list(
            session.execute(
                select(
                    Person.country,
                    func.count(func.distinct(Attempt.person_id)),
                    func.count(),
                    func.avg(cast(Attempt.correct, Integer)),
                )
                .join(Person, Person.id == Attempt.person_id)
                .where(Attempt.answered_at >= begin, Attempt.answered_at < finish)
                .group_by(Person.country)
            )
        )


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def explain(url: str, sql: str, params: dict[str, Any]) -> str:
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    from gateway import create_app
    from gateway.admin.accounts import create_admin, issue_token
    from workers.impact import run_rollup

    learners = 50_000 if quick else 1_000_000
    with services.database("postgresql", "impact") as url:
        started = time.perf_counter()
        people = load_people(url, learners)
        answers, per_day = load_attempts(url, people)
        summaries = load_rollups(url, people, per_day)
        loaded = time.perf_counter() - started
        results.note(
            "impact",
            f"{learners:,} learners (10 countries, 1 in 5 on WhatsApp, four tracks, en/fr/es, joined over "
            f"the {JOIN_SPREAD} days before) and {answers:,} answers over the {DAYS} days {START} to {END} "
            f"(each day one learner in {ANSWER_SHARE} answers once), with the {summaries:,} learner "
            f"summaries and the day counts those answers give, loaded with COPY in {loaded:.0f} s.",
        )
        settings = Settings(database_url=url, redis_url=redis.url, clock=FixedClock(NIGHT))
        with session_scope(url) as session:
            user = create_admin(session, "bench@example.org", "correct horse battery", "viewer")
            token = issue_token(session, user)[1]
        app = create_app(settings)
        client = app.test_client()
        query = f"/api/v1/impact?by=country&from={START}&to={END}"
        headers = {"Authorization": f"Bearer {token}"}

        def ask() -> dict[str, Any]:
            response = client.get(query, headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            return response.get_json()

        ask()  # warm-up: imports, connections
        api_runs: list[float] = []
        body: dict[str, Any] = {}
        for _ in range(API_RUNS):
            seconds, body = timed(ask)
            api_runs.append(seconds)
        naive_runs: list[float] = []
        naive: list[Any] = []
        for _ in range(NAIVE_RUNS):
            seconds, naive = timed(lambda: naive_by_country(url, START, END))
            naive_runs.append(seconds)
        baseline = results.add(
            Figure(
                "impact",
                f"naive: by country from {answers / 1e6:.1f}M attempts x people, 90 days",
                "seconds",
                naive_runs,
                "s",
            )
        )
        api = results.add(
            Figure(
                "impact",
                f"GET /api/v1/impact?by=country, 90 days, {learners:,} learners",
                "seconds",
                api_runs,
                "s",
                target="< 1 s" if not quick else "",
            )
        )
        api.compare(baseline, "naive GROUP BY")
        if not quick:
            api.met = api.value < 1
        shown = {g["group"]: g for g in body.get("groups", [])}
        agree = all(
            shown.get(country, {}).get("learners") == reached and shown[country]["answered"] == count
            for country, reached, count, _accuracy in naive
        )
        results.note(
            "impact",
            f"the API's learners and answers per country equal the naive query's: {agree} "
            f"({len(shown)} countries).",
        )

        # The nightly rollup, end to end, of one real day.
        day_learners, day_messages = load_day(url, people)
        seconds, report = timed(lambda: run_rollup(settings))
        rollup = results.add(
            Figure(
                "impact",
                f"nightly run_rollup of {DAY} ({day_learners:,} in touch, "
                f"{day_messages:,} messages), + 2 days' counts rebuilt",
                "seconds",
                [seconds],
                "s",
                target="< 120 s" if not quick else "",
            )
        )
        if not quick:
            rollup.met = seconds < 120
        rollup.compare(baseline, "one naive page view")
        results.note("impact", f"the rollup reported {report.as_dict()}.")
        _explains(results, url)


def _explains(results: Results, url: str) -> None:
    start = datetime.combine(DAY, datetime.min.time())
    bounds = {"start": start, "end": start + timedelta(days=1)}
    results.extra["impact: a day's answers (EXPLAIN ANALYZE)"] = explain(
        url,
        "SELECT p.country, count(*) FROM attempts a JOIN people p ON p.id = a.person_id "
        "WHERE a.answered_at >= %(start)s AND a.answered_at < %(end)s GROUP BY p.country",
        bounds,
    )
    results.extra["impact: a day's texts (EXPLAIN ANALYZE)"] = explain(
        url,
        "SELECT p.country, count(*) FROM messages m JOIN people p ON p.id = m.person_id "
        "WHERE m.created_at >= %(start)s AND m.created_at < %(end)s GROUP BY p.country",
        bounds,
    )
