"""Question and answer transcripts: Q/QUIZ/MORE, tolerant answers, Q17 B, SKIP, SCORE, the daily
cap, the daily push the workers plan, and FSRS ordering."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from content.catalog import get_catalog
from content.segments import is_gsm7, segment_count
from flows.engine import Context
from flows.quiz import choose_question, parse_answer, plan_daily_question
from flows.schedule import reschedule
from store.learning import Learning
from store.models import Attempt, Card
from tests.flows_support import Phone, content_folder, seed_bank

NIGERIA = "+2348031234567"


@pytest.fixture
def chat_settings(settings, tmp_path_factory):
    return settings.with_(content_path=str(content_folder(tmp_path_factory.getbasetemp())))


@pytest.fixture
def student(db, chat_settings, now):
    """An onboarded Step 1 student in Lagos with the small bank loaded."""
    seed_bank(db)
    phone = Phone(db, chat_settings, NIGERIA, now)
    phone.onboard(name="Ada", track="1", time="08:00")
    return phone


def attempts(db, phone):
    return list(db.scalars(select(Attempt).where(Attempt.person_id == phone.person.id).order_by(Attempt.id)))


def card_for(db, phone, question_id):
    return db.scalars(
        select(Card).where(Card.person_id == phone.person.id, Card.question_id == question_id)
    ).one()


def ask(phone) -> int:
    """Text Q and return the id of the question that came back."""
    text = phone.say("Q")
    assert text.startswith("Q"), text
    return int(text[1:].split(" ", 1)[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", ("A", None)),
        ("b", ("B", None)),
        ("B.", ("B", None)),
        ("b)", ("B", None)),
        (" B ", ("B", None)),
        ("(c)", ("C", None)),
        ("ans b", ("B", None)),
        ("answer: c", ("C", None)),
        ("2", ("B", None)),
        ("4", ("D", None)),
        ("Q17 B", ("B", 17)),
        ("q17b", ("B", 17)),
        ("Q17: d", ("D", 17)),
        ("Q 17 B", ("B", 17)),
        ("réponse : b", ("B", None)),
        ("Ｂ", ("B", None)),
    ],
)
def test_parse_answer_is_tolerant(text, expected):
    answer = parse_answer(text)
    assert answer is not None and (answer.choice, answer.question_id) == expected


@pytest.mark.parametrize("text", ["E", "5", "Q12", "hello", "b c", "I think B", "", "A" * 50])
def test_parse_answer_rejects_what_is_not_an_answer(text):
    assert parse_answer(text) is None


def test_q_sends_a_question_of_at_most_two_gsm_segments(db, student):
    text = student.say("Q")
    assert text.startswith("Q") and "\nA) Option one\nB) Option two\nC) Option three\nD) Option four" in text
    assert is_gsm7(text) and segment_count(text) <= 2
    (attempt,) = attempts(db, student)
    assert attempt.source == "more:1" and attempt.local_date == date(2026, 11, 26)


@pytest.mark.parametrize("keyword", ["Q", "quiz", "MORE", "more."])
def test_every_question_keyword_sends_a_question(student, keyword):
    assert student.say(keyword).startswith("Q")


@pytest.mark.parametrize("reply_text", ["(b)", "b", "B.", "b)", " B ", "ans b", "answer: b", "2"])
def test_tolerant_answers_get_feedback_in_one_segment(db, student, reply_text):
    qid = ask(student)
    right = {17: "B", 18: "C", 19: "A", 31: "D", 32: "A", 41: "C"}[qid]
    feedback = student.say(reply_text)
    assert segment_count(feedback) == 1 and is_gsm7(feedback)
    if right == "B":
        assert feedback.startswith("Correct! B.")
    else:
        assert feedback.startswith(f"Not quite: it's {right}.")
    assert f"{right} is right for {qid}." in feedback and feedback.endswith("Day streak: 1")
    (attempt,) = attempts(db, student)
    assert attempt.choice == "B" and attempt.answered_at is not None


def test_q17_answers_question_17_even_after_a_newer_one(db, student):
    first = ask(student)
    second = ask(student)
    assert first != second
    feedback = student.say(f"Q{first} A")
    assert f"is right for {first}." in feedback
    by_question = {a.question_id: a for a in attempts(db, student)}
    assert by_question[first].choice == "A"
    assert by_question[second].answered_at is None
    # The newer question is still open for a bare letter.
    assert f"is right for {second}." in student.say("c")
    assert student.say(f"Q{first} B").startswith(f"You already answered Q{first}")


def test_unknown_question_id(student):
    assert student.say("Q999 B") == "Q999 isn't one of your questions. Text Q for a new one."


@pytest.mark.parametrize("qid", ["2147483648", "9223372036854775808", "9" * 30])
@pytest.mark.parametrize("form", ["Q{} B", "Q {} B", "q{}b"])
def test_a_question_id_too_big_for_any_column_is_unknown_not_an_error(student, qid, form):
    ask(student)  # an open question must not take the answer either
    assert student.say(form.format(qid)) == f"Q{qid} isn't one of your questions. Text Q for a new one."


def test_unclear_reply_while_a_question_is_open_gets_a_hint_not_a_question(db, student):
    qid = ask(student)
    hint = student.say("I think it is the second one")
    assert hint == f"To answer Q{qid}, reply A, B, C or D. SKIP skips it, HELP lists commands."
    assert len(attempts(db, student)) == 1


def test_answer_without_an_open_question_gets_a_hint(student):
    assert student.say("B") == "No question is waiting for an answer. Text Q for a new one."


def test_unknown_text_with_nothing_open_gets_the_general_hint(student):
    assert (
        student.say("what is this")
        == "Sorry, I didn't get that. Text HELP for commands, or Q for a question."
    )


def test_an_old_question_is_no_longer_open_after_three_days(student):
    ask(student)
    student.later(days=3, hours=1)
    assert student.say("B").startswith("No question is waiting")


def test_skip(db, student):
    qid = ask(student)
    assert student.say("SKIP") == f"Skipped Q{qid}. Text Q for another question."
    assert attempts(db, student)[0].skipped
    assert student.say("skip").startswith("No question is waiting")
    assert student.say("B").startswith("No question is waiting")


def test_daily_cap_is_polite_and_resets_the_next_local_day(db, student):
    cap = student.settings.daily_question_cap
    for _ in range(cap):
        assert student.say("MORE").startswith("Q")
    stop = student.say("MORE")
    assert stop == f"That's all for today: {cap} questions is the daily limit. Your next one comes tomorrow."
    assert segment_count(stop) == 1
    assert len(attempts(db, student)) == cap
    # Lagos midnight is 23:00 UTC.
    student.send("Q", at=datetime(2026, 11, 26, 23, 1, tzinfo=UTC))
    assert attempts(db, student)[-1].local_date == date(2026, 11, 27)


def test_questions_do_not_repeat_until_the_track_bank_is_used_up(db, student):
    student.settings = student.settings.with_(daily_question_cap=50)
    seen = []
    for _ in range(7):
        student.later(minutes=1)
        seen.append(ask(student))
    step1 = {17, 18, 19, 31, 32, 41}
    # The six Step 1 questions, then the one general-only question, each once.
    assert set(seen[:6]) == step1 and seen[6] == 51
    # Then the least recently asked Step 1 question comes back.
    student.later(minutes=1)
    assert ask(student) == seen[0]


def test_weakest_topic_comes_first(db, student):
    student.settings = student.settings.with_(daily_question_cap=50)
    cardiology = {17, 18, 19}
    qid = ask(student)
    while qid not in cardiology:  # skipping changes no topic's accuracy
        student.say("SKIP")
        qid = ask(student)
    student.say("D")  # wrong for every cardiology question
    # Cardiology at 0 of 1 is now weaker than the unseen topics (which count as 1 in 3).
    assert ask(student) in cardiology - {qid}


def test_a_right_topic_gives_way_to_an_unseen_one(db, student):
    first = ask(student)
    right = {17: "B", 18: "C", 19: "A", 31: "D", 32: "A", 41: "C"}[first]
    student.say(right)
    topic_of = {17: "c", 18: "c", 19: "c", 31: "r", 32: "r", 41: "p"}
    assert topic_of[ask(student)] != topic_of[first]


def test_score(db, student):
    assert student.say("SCORE") == "No answers yet. Text Q for your first question."
    qid = ask(student)
    right = {17: "B", 18: "C", 19: "A", 31: "D", 32: "A", 41: "C"}[qid]
    student.say(right)
    ask(student)
    student.say("A" if right != "A" else "B")  # the second one wrong, whatever it is
    student.later(days=1)
    ask(student)
    student.say("A")
    score = student.say("SCORE")
    assert score.startswith("Day streak: 2. Answered: 3. Accuracy: ")
    assert "Weakest topic: " in score and "text RES " in score
    assert segment_count(score) == 1


def test_streak_breaks_after_a_missed_day(student):
    ask(student)
    assert student.say("A").endswith("Day streak: 1")
    student.later(days=1)
    ask(student)
    assert student.say("A").endswith("Day streak: 2")
    student.later(days=2)
    ask(student)
    assert student.say("A").endswith("Day streak: 1")


# --- the daily push ---------------------------------------------------------------------------


def _ctx(phone, at):
    return Context(phone.db, get_catalog(phone.settings.content_path), phone.settings, at)


def test_plan_daily_question_once_per_local_date(db, student):
    person = student.person
    at = person.next_push_at
    assert at == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # 08:00 in Lagos
    planned = plan_daily_question(_ctx(student, at), person, at)
    assert planned is not None
    attempt, text = planned
    assert attempt.source == "daily" and attempt.local_date == date(2026, 11, 27)
    assert text.startswith(f"Q{attempt.question_id} ") and segment_count(text) <= 2
    # Twice at the same instant, or a minute later: nothing new.
    assert plan_daily_question(_ctx(student, at), person, at) is None
    assert plan_daily_question(_ctx(student, at), person, at + timedelta(minutes=1)) is None
    reschedule(person, at)
    assert person.next_push_at == datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    # The pushed question is the open one.
    assert f"is right for {attempt.question_id}" in student.say("a", at=at + timedelta(hours=2))


def test_plan_daily_question_skips_people_who_should_not_get_one(db, student):
    person = student.person
    at = person.next_push_at
    student.say("PAUSE")
    assert person.next_push_at is None
    assert plan_daily_question(_ctx(student, at), person, at) is None
    student.say("RESUME")
    student.say("STOP")
    assert plan_daily_question(_ctx(student, at), person, at) is None


def test_a_late_push_in_quiet_hours_is_not_sent(db, student):
    person = student.person
    late = datetime(2026, 11, 27, 21, 30, tzinfo=UTC)  # 22:30 in Lagos
    assert plan_daily_question(_ctx(student, late), person, late) is None


def test_a_timed_pause_ends_by_itself(db, student):
    person = student.person
    student.say("PAUSE 2")
    at = person.next_push_at
    assert at == datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
    assert plan_daily_question(_ctx(student, at), person, at) is not None
    assert person.status == "active" and person.paused_until is None


# --- spaced repetition ---------------------------------------------------------------------------


def test_wrong_answer_is_due_sooner_than_a_right_one(db, student):
    student.settings = student.settings.with_(daily_question_cap=50)
    first = ask(student)
    right = {17: "B", 18: "C", 19: "A", 31: "D", 32: "A", 41: "C"}
    student.say("D" if right[first] != "D" else "A")
    second = ask(student)
    student.say(right[second])
    wrong_card, right_card = card_for(db, student, first), card_for(db, student, second)
    assert wrong_card.due < right_card.due
    assert wrong_card.due - student.now <= timedelta(days=1, minutes=1)
    assert wrong_card.state["card_id"] == wrong_card.id and wrong_card.reviews == 1


def test_a_due_review_comes_before_a_new_question(db, student):
    first = ask(student)
    student.say("D" if first != 31 else "A")  # wrong: Again, due again in a day
    assert card_for(db, student, first).due == student.now + timedelta(days=1)
    # Later the same day it is not due: a new question comes.
    student.later(hours=3)
    assert ask(student) != first
    # The next morning's push brings the review back, though it falls due after breakfast.
    person, at = student.person, student.person.next_push_at
    assert at == datetime(2026, 11, 27, 7, 0, tzinfo=UTC) < card_for(db, student, first).due
    assert choose_question(Learning(db), person, at).id == first
    attempt, text = plan_daily_question(_ctx(student, at), person, at)
    assert attempt.question_id == first and text.startswith(f"Q{first} ")
    # Once put again it waits for its answer rather than coming back on every Q.
    student.now = at + timedelta(minutes=5)
    assert ask(student) != first
    assert f"is right for {first}" in student.say(f"Q{first} A")
    assert card_for(db, student, first).reviews == 2


def test_slow_correct_answer_is_rated_hard(db, student):
    student.settings = student.settings.with_(daily_question_cap=50)
    right = {17: "B", 18: "C", 19: "A", 31: "D", 32: "A", 41: "C", 51: "A"}
    quick = []
    for _ in range(5):
        qid = ask(student)
        student.later(seconds=30)
        student.say(right[qid])
        quick.append(qid)
    slow = ask(student)
    student.later(minutes=10)  # twenty times this student's usual 30 seconds
    assert student.say(right[slow]).startswith("Correct!")
    slow_card, quick_card = card_for(db, student, slow), card_for(db, student, quick[-1])
    # Hard: a shorter first interval and a higher difficulty than Good.
    assert slow_card.due - student.now < quick_card.due - (student.now - timedelta(minutes=10, seconds=30))
    assert slow_card.state["difficulty"] > quick_card.state["difficulty"]
    assert slow_card.lapses == 0


def test_not_slow_without_five_answers_of_history(db, student):
    right = {17: "B", 18: "C", 19: "A", 31: "D", 32: "A", 41: "C"}
    qid = ask(student)
    student.later(seconds=30)
    student.say(right[qid])
    qid2 = ask(student)
    student.later(hours=5)
    student.say(right[qid2])
    assert card_for(db, student, qid2).state["difficulty"] == card_for(db, student, qid).state["difficulty"]


def test_a_pushed_question_is_timed_against_pushed_ones_only(db, student):
    student.settings = student.settings.with_(daily_question_cap=50)
    right = {17: "B", 18: "C", 19: "A", 31: "D", 32: "A", 41: "C", 51: "A"}
    for _ in range(5):
        qid = ask(student)
        student.later(seconds=30)
        student.say(right[qid])
    at = student.person.next_push_at
    attempt, _text = plan_daily_question(_ctx(student, at), student.person, at)
    # Read three hours after it arrived: normal for a push, though 360 times the asked-for median.
    student.say(right[attempt.question_id], at=at + timedelta(hours=3))
    pushed = card_for(db, student, attempt.question_id)
    assert pushed.due == at + timedelta(hours=3, days=2)  # Good's two days, not Hard's one


def test_an_attempt_remembers_the_version_it_asked_and_only_published_questions_are_served(db, student):
    from store.models import Question

    bank = list(db.scalars(select(Question).where(Question.active.is_(True))))
    first, *others = bank
    first.version = 3
    for other in others:
        other.status = "review"  # held back: a reviewer has not cleared it
    db.commit()
    assert ask(student) == first.id
    assert attempts(db, student)[-1].question_version == 3
    first.status = "retired"
    db.commit()
    db.info.clear()  # each text has a session of its own in the service; this test shares one
    text = student.say("MORE")
    assert not text.startswith("Q"), text
