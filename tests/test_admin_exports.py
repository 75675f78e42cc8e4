"""Exports: the CLI's CSV files, a person's data export and erasure, and memory that stays flat."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc

from sqlalchemy import func, insert, select

from gateway.admin.exports import iter_csv
from store.db import session_scope
from store.models import Attempt, Message, Person, Question, utcnow
from tests.admin_support import add_person


def add_answers(settings, person_id: int) -> None:
    now = utcnow()
    with session_scope(settings.database_url) as session:
        session.add(
            Question(
                id=7,
                topic="renal",
                tracks=["step1"],
                stem="s",
                options={"A": "a"},
                answer="A",
                explanation="e",
            )
        )
        session.flush()
        session.add_all(
            [
                Attempt(
                    person_id=person_id,
                    question_id=7,
                    source="daily",
                    local_date=now.date(),
                    answered_at=now,
                    choice="A",
                    correct=True,
                ),
                Attempt(
                    person_id=person_id,
                    question_id=7,
                    source="more:1",
                    local_date=now.date(),
                    answered_at=now,
                    choice="B",
                    correct=False,
                ),
            ]
        )


def test_export_answers_and_learners_to_files(runner, app_settings, tmp_path):
    person_id = add_person(app_settings, "+2348031000001", name="Amina")
    add_answers(app_settings, person_id)
    answers = tmp_path / "answers.csv"
    result = runner.invoke(args=["export", "answers", "--out", str(answers)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 answers row(s)" in result.output
    rows = list(csv.DictReader(answers.open()))
    assert [(r["topic"], r["choice"], r["correct"]) for r in rows] == [
        ("renal", "A", "True"),
        ("renal", "B", "False"),
    ]
    assert "+2348031000001" not in answers.read_text()  # answers carry no numbers

    learners = tmp_path / "learners.csv"
    assert runner.invoke(args=["export", "learners", "--out", str(learners)]).exit_code == 0
    (row,) = csv.DictReader(learners.open())
    assert (row["phone"], row["name"], row["answered"], row["correct"]) == (
        "+2348031000001",
        "Amina",
        "2",
        "1",
    )


def test_export_messages_to_stdout(runner, app_settings):
    person_id = add_person(app_settings, "+2348031000001")
    with session_scope(app_settings.database_url) as session:
        session.add(
            Message(
                person_id=person_id,
                direction="in",
                channel="sms",
                phone="+2348031000001",
                body='hello, "world"\nbye',
                kind="inbound",
                status="received",
            )
        )
    result = runner.invoke(args=["export", "messages"])
    assert result.exit_code == 0
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert row["body"] == 'hello, "world"\nbye' and row["direction"] == "in"


def test_export_rejects_an_unknown_kind(runner):
    result = runner.invoke(args=["export", "passwords"])
    assert result.exit_code == 2 and "answers" in result.output


def test_person_export_and_erase_from_the_cli(runner, app_settings, tmp_path):
    person_id = add_person(app_settings, "+2348031000001", name="Amina")
    add_answers(app_settings, person_id)
    with session_scope(app_settings.database_url) as session:
        session.add(
            Message(
                person_id=None,
                direction="in",
                channel="sms",
                phone="+2348031000001",
                body="before we knew them",
                kind="inbound",
                status="received",
            )
        )
    out = tmp_path / "amina.json"
    exported = runner.invoke(args=["admin", "export-person", "+234 803 100 0001", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    record = json.loads(out.read_text())
    assert record["person"]["name"] == "Amina" and len(record["attempts"]) == 2

    refused = runner.invoke(args=["admin", "erase", "+2348031000001"], input="n\n")
    assert refused.exit_code == 1
    erased = runner.invoke(args=["admin", "erase", "+2348031000001", "--yes"])
    assert erased.exit_code == 0 and "1 message text(s) blanked" in erased.output
    with session_scope(app_settings.database_url) as session:
        person = session.get(Person, person_id)
        assert person.name is None and person.phone.startswith("erased:")
        assert session.scalar(select(func.count()).select_from(Attempt)) == 2  # aggregates kept
        assert (
            session.scalar(select(func.count()).select_from(Message).where(Message.phone == "+2348031000001"))
            == 0
        )
    assert (
        runner.invoke(args=["admin", "erase", "+2348031000001", "--yes"]).exit_code == 1
    )  # no such number now
    assert "already erased" in runner.invoke(args=["admin", "erase", str(person_id), "--yes"]).output


def test_exporting_100000_rows_keeps_memory_flat(app_settings):
    """Streaming must not hold the rows: its peak is a small fraction of the export's own size."""
    person_id = add_person(app_settings, "+2348031000001")
    now = utcnow()
    row = {
        "person_id": person_id,
        "direction": "out",
        "channel": "sms",
        "phone": "+2348031000001",
        "kind": "question",
        "status": "delivered",
        "segments": 2,
        "encoding": "GSM-7",
        "num_media": 0,
        "attempts": 1,
        "created_at": now,
        "updated_at": now,
        "sent_at": now,
    }
    with session_scope(app_settings.database_url) as session:
        for start in range(0, 100_000, 10_000):
            session.execute(
                insert(Message),
                [
                    row
                    | {"body": f"Q{n} A 34-year-old presents with chest pain after a long flight. Next step?"}
                    for n in range(start, start + 10_000)
                ],
            )
    total_bytes = rows = 0
    after_chunk: list[int] = []
    tracemalloc.start()
    try:
        for chunk in iter_csv(app_settings.database_url, "messages"):
            total_bytes += len(chunk)
            rows += chunk.count("\n")
            after_chunk.append(tracemalloc.get_traced_memory()[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 100_001  # the header and every row
    # The CSV is ~17 MB and holding the rows as objects takes ~100 MB; streaming stays at a few MB...
    assert total_bytes > 15_000_000
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB"
    # ... and flat: the 100th chunk costs no more memory than the 10th.
    assert max(after_chunk[-10:]) - after_chunk[10] < 1_000_000, [
        round(m / 1e6, 2) for m in after_chunk[::10]
    ]


def test_erasing_a_student_or_a_mentor_ends_their_pairs(runner, app_settings):
    from flows import mentors
    from store.mentoring import Pair

    add_person(app_settings, "+2348031000001", name="Amina")
    add_person(app_settings, "+2348031000002", name="Bola")
    with session_scope(app_settings.database_url) as session:
        mentor = mentors.add_mentor(session, "+2348039000001", "Dr O")
        mentors.pair(session, mentor, "+2348031000001")
        mentors.pair(session, mentor, "+2348031000002")
    assert runner.invoke(args=["admin", "erase", "+2348031000001", "--yes"]).exit_code == 0
    with session_scope(app_settings.database_url) as session:
        assert session.scalars(select(Pair.status).order_by(Pair.id)).all() == ["ended", "active"]
    assert runner.invoke(args=["admin", "erase", "+2348039000001", "--yes"]).exit_code == 0
    with session_scope(app_settings.database_url) as session:
        assert session.scalars(select(Pair.status).order_by(Pair.id)).all() == ["ended", "ended"]
