"""Questions and answers: which question next (due reviews, then the weakest topics of the track),
the daily push the workers plan, tolerant answer parsing, FSRS reviews, SKIP, SCORE and Q/MORE.

Workers call `plan_daily_questions`; everything else answers a text. The queries live in
`store.learning` (`ctx.learning`); what is decided here is tested without a database.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fsrs import Card as FsrsCard
from fsrs import Rating, Scheduler
from sqlalchemy import Row
from sqlalchemy.orm import Session

from content.phone import shorter_feedback_key
from content.segments import SMS, for_channel, is_gsm7, segment_count, truncate_to
from content.translations import TRANSLATED_FEEDBACK_SEGMENTS
from flows import onboarding
from flows.engine import Answered, Command, Context, Outcome, reply
from flows.resources import topic_name
from flows.schedule import end_of_local_day, in_quiet_hours, local_date
from store.learning import DAILY, STREAK_FIRST_READ, Bank, History, Learning
from store.models import ACTIVE, OPTED_OUT, PAUSED, Attempt, Person, Question
from store.programs import is_program_source
from store.text import MAX_INT

__all__ = [
    "choose_question",
    "hold_questions",
    "parse_answer",
    "plan_daily_question",
    "plan_daily_questions",
    "render_question",
]

LETTERS = ("A", "B", "C", "D")
# A bare letter answers a question asked within this window; `Q17 B` reaches further back.
OPEN_WINDOW = timedelta(days=3)
QUESTION_SEGMENTS = 2
FEEDBACK_SEGMENTS = 1
# Text outside GSM-7 (a translated wrapper, say) is allowed up to the contract's ceiling.
MAX_SEGMENTS = 3
# A correct answer this many times slower than the student's own median is rated Hard.
SLOW_FACTOR = 2.0
MIN_HISTORY = 5
# No intra-day learning steps: on a once-a-day channel a card is next due a day or more later.
SCHEDULER = Scheduler(learning_steps=(), relearning_steps=())

_ANSWER = re.compile(
    r"(?:Q\s*(?P<qid>\d++)\s*[:.,)#=-]?\s*)?"
    r"(?:(?:ANSWER|ANSWR|ANS|REPONSE|REP|RESPUESTA|RESP)\s*(?:IS\s*)?[:.=-]?\s*)?"
    r"[(\[]?(?P<choice>[A-D1-4])[)\].:!,]*"
)


@dataclass(frozen=True)
class Answer:
    choice: str  # A-D
    question_id: int | None = None


def parse_answer(text: str) -> Answer | None:
    """`A`, `b`, `B.`, `b)`, ` B `, `ans b`, `answer: c`, `2` (= B), `Q17 B` -> an Answer; else None."""
    decomposed = unicodedata.normalize("NFKD", (text or "")[:40])
    cleaned = "".join(c for c in decomposed if not unicodedata.combining(c)).strip().upper()
    match = _ANSWER.fullmatch(cleaned)
    if not match:
        return None
    choice = match["choice"]
    letter = LETTERS[int(choice) - 1] if choice.isdigit() else choice
    return Answer(letter, int(match["qid"]) if match["qid"] else None)


def _sms_segments(text: str) -> int:
    """Segments of `text` as SMS sends it (the accents GSM-7 lacks folded): the budget's measure on
    every channel, so a WhatsApp student reads the same words, only fully spelt."""
    return segment_count(for_channel(text, SMS))


def _fit(render: Callable[[str], str], value: str, segments: int) -> str:
    """Render with as much of `value` as fits `segments` (cut with an ellipsis when it must be)."""
    text = render(value)
    budget = segments if is_gsm7(for_channel(text, SMS)) else MAX_SEGMENTS
    if _sms_segments(text) <= budget:
        return text
    low, high = 0, len(value)
    while low < high:
        middle = (low + high + 1) // 2
        if _sms_segments(render(value[:middle].rstrip() + "...")) <= budget:
            low = middle
        else:
            high = middle - 1
    return truncate_to(render(value[:low].rstrip() + "..."), budget)


def fit_feedback(render: Callable[[str, str], str], key: str, explanation: str, segments: int) -> str:
    """The feedback message `key` with the explanation, in at most `segments` SMS segments; without
    the streak (`<key>_short`) when the streak would cost a segment or a cut in the explanation."""
    chosen = shorter_feedback_key(lambda message: render(message, explanation), key)
    return _fit(lambda why: render(chosen, why), explanation, segments)


def render_question(ctx: Context, person: Person, question: Question, prefix: str = "") -> str:
    """`Q{id} {stem}` then `A) ...` lines (after `prefix`: a program day's label), in two GSM-7 segments.

    In the person's language when the question has a published translation, else in English.
    """
    translated = ctx.learning.translation(question.id, person.language)
    stem, choices = (translated.stem, translated.options) if translated else (question.stem, question.options)
    options = "\n".join(f"{letter}) {str(text).strip()}" for letter, text in sorted((choices or {}).items()))
    return _fit(
        lambda words: prefix + ctx.say(person, "question", id=question.id, stem=words, options=options),
        stem.strip(),
        QUESTION_SEGMENTS,
    )


# --- choosing -----------------------------------------------------------------------------


def _spread(*parts: object) -> int:
    """A stable per-person tie-break, so students do not all get the same question."""
    return zlib.crc32(":".join(map(str, parts)).encode())


def topic_strength(answered: int, correct: int) -> float:
    """Smoothed accuracy; its prior of 1/3 makes an unseen topic count as a weak one."""
    return (correct + 1) / (answered + 3)


def hold_questions(session: Session) -> None:
    """Read every active question into the session at once, for a pass over many students."""
    Learning(session).hold_questions()


def pick_question(
    bank: Bank,
    person: Person,
    now: datetime,
    history: History,
    read_stats: Callable[[], dict[str, tuple[int, int]]],
    skip_overdue: bool = False,
) -> int | None:
    """Due reviews first, then an unasked question from the track's weakest topic, then repeats.

    `skip_overdue`: never a question whose `review_by` is before the person's local date.
    """
    asked = history.asked
    serving_on = local_date(person, now) if skip_overdue and bank.review_by else None
    overdue = bank.overdue(serving_on) if serving_on is not None else frozenset()
    for question_id, state in history.due:
        if question_id in overdue:
            continue
        last_asked, reviewed = asked.get(question_id), (state or {}).get("last_review")
        if last_asked is None or not reviewed:
            return question_id
        # Put again since its last review and still unanswered: a few days' grace, not a loop.
        if last_asked <= datetime.fromisoformat(reviewed) or last_asked < now - OPEN_WINDOW:
            return question_id

    pool, general = bank.pool(person.track or "general", serving_on), bank.pool("general", serving_on)
    fresh = [q for q in pool if q.id not in asked] or [q for q in general if q.id not in asked]
    if fresh:
        stats = history.stats if history.stats is not None else read_stats()
        asked_in = Counter(bank.topic_of.get(qid) for qid in asked)

        # The weakest topic first (least asked, then a per-person tie-break), then within it
        # the easiest question, ties broken per person so students do not all get the same one.
        def weakness(topic: str) -> tuple[float, int, int]:
            return (topic_strength(*stats.get(topic, (0, 0))), asked_in[topic], _spread(person.id, topic))

        ranked = {topic: weakness(topic) for topic in {q.topic for q in fresh}}
        weakest = min(ranked.values())
        return min(
            (q for q in fresh if ranked[q.topic] == weakest),
            key=lambda q: (q.difficulty, _spread(person.id, q.id)),
        ).id
    if bank.track_only:
        # Only reviewed items are served: another track's would be the wrong exam.
        repeats = pool or general
    else:
        repeats = pool or general or ([q for q in bank.rows if q.id not in overdue] if overdue else bank.rows)
    if not repeats:
        return None
    return min(repeats, key=lambda q: (asked.get(q.id) or now, q.id)).id


def choose_question(
    learning: Learning, person: Person, now: datetime, skip_overdue: bool = False
) -> Question | None:
    """The question `pick_question` chooses for one person now (topic stats read only if needed)."""
    history = learning.histories({person.id: end_of_local_day(person, now)}, stats=False)[person.id]
    chosen = pick_question(
        learning.active_bank(),
        person,
        now,
        history,
        lambda: learning.topic_stats([person.id]).get(person.id, {}),
        skip_overdue,
    )
    return None if chosen is None else learning.question(chosen)


# --- the daily push -----------------------------------------------------------------------


def ready_for_push(person: Person, at: datetime) -> bool:
    if person.status == OPTED_OUT or onboarding.in_progress(person) or not person.daily_time:
        return False
    if person.status == PAUSED:
        if person.paused_until is None or person.paused_until > at:
            return False
        person.status, person.paused_until = ACTIVE, None  # the pause has run out
    return True


@dataclass(frozen=True)
class Planned:
    """A daily question written for one person: the Attempt row's id and the text to send."""

    person: Person
    attempt_id: int
    question: Question
    day: date
    text: str


def plan_daily_questions(ctx: Context, people: list[Person], at: datetime) -> list[Planned]:
    """Create today's daily Attempt for each due person, for a whole batch at once.

    A few queries per batch, not per person: their histories, one INSERT for the attempts.
    Skipped: people who already have this local date's daily question (the (person, local
    date, 'daily') key makes the INSERT yield, so two passes cannot both ask), who are not
    active (opted out, paused, onboarding), whose quiet hours it is (unless it is their chosen
    time), or when no question is left to ask. Does not commit; the caller moves each person's
    next push on afterwards either way.
    """
    learning, skip_overdue = ctx.learning, ctx.settings.skip_overdue
    ready = [p for p in people if ready_for_push(p, at) and not in_quiet_hours(p, at, ctx.settings)]
    if not ready:
        return []
    # Once a day is the rhythm, so a card due at any time of the person's today is due now.
    found = learning.histories({person.id: end_of_local_day(person, at) for person in ready})
    bank = learning.active_bank()
    chosen: list[tuple[Person, Question, date]] = []
    for person in ready:
        # The stats were read with the histories.
        question_id = pick_question(bank, person, at, found[person.id], dict, skip_overdue)
        question = None if question_id is None else learning.question(question_id)
        if question is not None:
            chosen.append((person, question, local_date(person, at)))
    inserted = learning.insert_attempts(
        [
            learning.attempt_values(person.id, question.id, day, DAILY, at, question.version)
            for person, question, day in chosen
        ]
    )
    # One query for the translations the whole pass needs, not one per student.
    learning.hold_translations({q.id for _, q, _ in chosen}, {p.language or "en" for p, _, _ in chosen})
    texts: dict[tuple[int, str], str] = {}  # the same question reads the same in one language
    planned = []
    for person, question, day in chosen:
        if person.id not in inserted:
            continue  # already asked today (by this pass earlier or a concurrent one)
        text = texts.get((question.id, person.language or "en"))
        if text is None:
            text = texts[question.id, person.language or "en"] = render_question(ctx, person, question)
        planned.append(Planned(person, inserted[person.id], question, day, text))
    return planned


def plan_daily_question(ctx: Context, person: Person, at: datetime) -> tuple[Attempt, str] | None:
    """`plan_daily_questions` for one person: their new Attempt and its text, or None."""
    planned = plan_daily_questions(ctx, [person], at)
    if not planned:
        return None
    (one,) = planned
    values = ctx.learning.attempt_values(person.id, one.question.id, one.day, DAILY, at, one.question.version)
    return ctx.learning.held_attempt(one.attempt_id, values), one.text


# --- answers ------------------------------------------------------------------------------

# Every answer day is read only when a streak reaches past the first STREAK_FIRST_READ.
STREAK_MOST_DAYS = 3700


def open_attempt(learning: Learning, person: Person, now: datetime) -> Attempt | None:
    """The latest question still waiting for an answer (not skipped, asked within three days)."""
    return learning.open_attempt(person.id, now - OPEN_WINDOW)


def _run_up_to(today: date, days: set[date]) -> tuple[int, date]:
    """The run of consecutive `days` up to today (or yesterday), and the day that ended it."""
    day = today if today in days else today - timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return streak, day


def streak_days(
    learning: Learning,
    person: Person,
    now: datetime,
    latest: set[date] | None = None,
    answered_on: date | None = None,
) -> int:
    """Consecutive local days, up to today (or yesterday), with at least one answer.

    `latest`: the newest STREAK_FIRST_READ answer days (all of them if fewer), if the caller read them
    already, before it recorded an answer on the local date `answered_on`. Every day is read only when
    the run reaches past the oldest of them.
    """
    if latest is None:
        latest = learning.answer_days(person.id, STREAK_FIRST_READ)
    today = local_date(person, now)
    streak, ended = _run_up_to(today, latest | {answered_on} if answered_on else latest)
    if len(latest) >= STREAK_FIRST_READ and ended < min(latest):
        streak, _ = _run_up_to(today, learning.answer_days(person.id, STREAK_MOST_DAYS))
    return streak


def rating_for(correct: bool, seconds: float, times: Callable[[], list[float]]) -> Rating:
    """Again when wrong; Hard when right but much slower than the student's own median; else Good.

    `times` gives the student's latest answer times for this kind of question (read only for a
    right answer). A pushed question waits in the inbox for hours while an asked-for one is
    answered at once, so each is compared with its own kind; the median needs enough answers.
    """
    if not correct:
        return Rating.Again
    history = times()
    if len(history) >= MIN_HISTORY and seconds > SLOW_FACTOR * statistics.median(history):
        return Rating.Hard
    return Rating.Good


def review_card(asking: Row, rating: Rating, now: datetime) -> dict:
    """One FSRS review of the person's card for the asking's question: the card's new columns.

    `asking` carries the card's columns (None when there is no card yet) and the id a new card takes.
    """
    if asking.card_id is None:
        card, reviews, lapses = FsrsCard(card_id=asking.new_card_id, due=now), 0, 0
    else:
        card = FsrsCard.from_dict(asking.state) if asking.state else FsrsCard(card_id=asking.card_id, due=now)
        reviews, lapses = asking.reviews, asking.lapses
    card, _log = SCHEDULER.review_card(card, rating, review_datetime=now)
    if rating == Rating.Again and reviews:
        lapses += 1
    return {"state": dict(card.to_dict()), "due": card.due, "reviews": reviews + 1, "lapses": lapses}


def _answer(ctx: Context, person: Person, asking: Row, letter: str, latest_days: set[date]) -> Outcome:
    """Record `letter` as the answer to `asking` (a row of an "answering" statement) and give feedback."""
    if asking.found is None or letter not in (asking.options or {}):
        return reply(ctx.say(person, "answer_unclear", id=asking.question_id))
    now = ctx.now.astimezone(UTC)
    seconds = max((now - asking.asked_at).total_seconds(), 0.0)
    answer = asking.answer
    correct = letter == answer.strip().upper()
    learning = ctx.learning
    rating = rating_for(correct, seconds, lambda: learning.response_times(person.id, asking.source == DAILY))
    answered = {
        "choice": letter,
        "correct": correct,
        "skipped": False,
        "answered_at": now,
        "response_seconds": seconds,
    }
    learning.save_answer(person.id, asking, answered, review_card(asking, rating, now))
    streak = streak_days(learning, person, now, latest_days, asking.local_date)
    key = "feedback_correct" if correct else "feedback_wrong"
    # In the person's language when the question has a translation (which runs longer: two segments).
    translated = learning.translation(asking.question_id, person.language)
    outcome = reply(
        fit_feedback(
            lambda message, why: ctx.say(person, message, answer=answer, explanation=why, streak=streak),
            key,
            (translated.explanation if translated else asking.explanation).strip(),
            TRANSLATED_FEEDBACK_SEGMENTS if translated else FEEDBACK_SEGMENTS,
        )
    )
    outcome.answered = Answered(asking.source, answer, correct)
    return outcome


def _answer_by_id(ctx: Context, person: Person, question_id: int, choice: str) -> Outcome:
    """`Q17 B`: the person's latest asking of question 17, however many came after it."""
    if question_id > MAX_INT:  # no question has such an id, and no column could compare it
        return reply(ctx.say(person, "unknown_question", id=question_id))
    asking, days = ctx.learning.asking_of(person.id, question_id)
    if asking is None:
        return reply(ctx.say(person, "unknown_question", id=question_id))
    if asking.answered_at is not None:
        right = asking.answer if asking.found is not None else "?"
        return reply(ctx.say(person, "already_answered", id=asking.question_id, answer=right))
    return _answer(ctx, person, asking, choice, days)


def answer_or_hint(ctx: Context, person: Person, command: Command) -> Outcome | None:
    """An answer goes to its question; anything else while a question is open gets a hint."""
    answer = parse_answer(command.raw)
    if answer is not None and answer.question_id is not None:
        return _answer_by_id(ctx, person, answer.question_id, answer.choice)
    asking, days = ctx.learning.open_asking(person.id, ctx.now - OPEN_WINDOW, answering=answer is not None)
    if asking is None and not onboarding.is_onboarded(person):
        return None  # never signed up (their first text was HELP, say): onboarding takes it
    if answer is not None:
        if asking is None:
            return reply(ctx.say(person, "no_open_question"))
        return _answer(ctx, person, asking, answer.choice, days)
    if asking is not None:
        return reply(ctx.say(person, "answer_unclear", id=asking.question_id))
    return None


# --- keywords -----------------------------------------------------------------------------


def question_now(ctx: Context, person: Person, command: Command) -> Outcome:
    answer = parse_answer(command.raw)
    if answer is not None and answer.question_id is not None:
        return _answer_by_id(
            ctx, person, answer.question_id, answer.choice
        )  # "Q 17 B", with a space after the Q
    if onboarding.in_progress(person):
        return reply(onboarding.prompt(ctx, person))
    learning, cap = ctx.learning, ctx.settings.daily_question_cap
    day = local_date(person, ctx.now)
    # Program questions are the program's, not asked for: they do not count against the cap.
    sources = [s for s in learning.sources_on(person.id, day) if not is_program_source(s)]
    if len(sources) >= cap:
        return reply(ctx.say(person, "daily_cap", cap=cap))
    question = choose_question(learning, person, ctx.now, ctx.settings.skip_overdue)
    if question is None:
        return reply(ctx.say(person, "reviewed_none" if ctx.settings.serve_only_reviewed else "no_questions"))
    extras = sum(1 for source in sources if source != DAILY)
    for number in range(extras + 1, extras + cap + 2):
        if (
            learning.insert_attempt(person.id, question.id, day, f"more:{number}", ctx.now, question.version)
            is not None
        ):
            break
    return reply(render_question(ctx, person, question))


def skip(ctx: Context, person: Person, command: Command) -> Outcome:
    if onboarding.in_progress(person):
        return reply(onboarding.prompt(ctx, person))
    attempt = open_attempt(ctx.learning, person, ctx.now)
    if attempt is None:
        return reply(ctx.say(person, "no_open_question"))
    attempt.skipped = True
    return reply(ctx.say(person, "skipped", id=attempt.question_id))


def score(ctx: Context, person: Person, command: Command) -> Outcome:
    stats = ctx.learning.topic_stats([person.id]).get(person.id, {})
    answered = sum(n for n, _ in stats.values())
    if not answered:
        return reply(ctx.say(person, "score_empty"))
    correct = sum(c for _, c in stats.values())
    weakest = min(stats, key=lambda topic: (topic_strength(*stats[topic]), topic))
    return reply(
        ctx.say(
            person,
            "score",
            streak=streak_days(ctx.learning, person, ctx.now),
            answered=answered,
            accuracy=round(100 * correct / answered),
            weakest=topic_name(ctx, weakest),
            topic_key=weakest,
        )
    )
