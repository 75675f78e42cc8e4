"""Exports: the CLI's CSV files, a person's data export and erasure, and memory that stays flat."""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc

import pytest
from sqlalchemy import func, insert, select

from gateway.admin.exports import EXPORTS, iter_csv, spreadsheet_cell
from store.db import session_scope
from store.models import Attempt, Message, Person, Question
from tests.admin_support import add_person


def add_answers(settings, person_id: int) -> None:
    now = settings.clock.now()
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


FORMULAS = ["-2+3+cmd|' /C calc'!A0", "-1+1", "+1+1", "=1+2", "@SUM(A1)", " =HYPERLINK(1)", "\t=1"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_formula_in_any_cell_is_shown_as_text(formula):
    assert spreadsheet_cell(formula) == "'" + formula


@pytest.mark.parametrize(
    "value", ["-3", "12.5", -7, 0.25, "+2348031234111", "whatsapp:+447700900123", "Amina"]
)
def test_numbers_and_e164_numbers_stay_as_they_are(value):
    assert spreadsheet_cell(value) == str(value)


def _spreadsheet_would_compute(cell: str) -> bool:
    return cell.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r", "\n") and not (
        re.fullmatch(r"-?\d+(\.\d+)?", cell) or re.fullmatch(r"\+[1-9]\d{6,14}", cell)
    )


def test_every_export_defuses_formulas_in_names_bodies_and_senders(runner, client, app_settings):
    """Names, texts and a signed webhook's unroutable `From` reach every CSV as plain text."""
    from tests.conftest import payload, sign

    for n, formula in enumerate(FORMULAS):
        person_id = add_person(app_settings, f"+23480310000{n:02d}", name=formula)
        with session_scope(app_settings.database_url) as session:
            session.add(
                Message(
                    person_id=person_id,
                    direction="in",
                    phone=f"+23480310000{n:02d}",
                    body=formula,
                    kind="inbound",
                    status="received",
                )
            )
    add_answers(app_settings, person_id)
    form = payload("sms_help", From="=1+2", MessageSid="SM" + "f" * 32)
    signed = {"X-Twilio-Signature": sign(form, "/twilio/messages")}
    assert client.post("/twilio/messages", data=form, headers=signed).status_code == 200

    for kind in EXPORTS:
        result = runner.invoke(args=["export", kind])
        assert result.exit_code == 0, result.output
        cells = [cell for row in csv.reader(io.StringIO(result.stdout)) for cell in row]
        assert cells and not [cell for cell in cells if _spreadsheet_would_compute(cell)], kind
    learners = list(csv.DictReader(io.StringIO(runner.invoke(args=["export", "learners"]).stdout)))
    assert [row["name"] for row in learners] == ["'" + formula for formula in FORMULAS]
    assert learners[0]["phone"] == "+2348031000000"  # a real number is left as it is
    messages = list(csv.DictReader(io.StringIO(runner.invoke(args=["export", "messages"]).stdout)))
    assert "'=1+2" in [row["phone"] for row in messages]
    assert "'-2+3+cmd|' /C calc'!A0" in [row["body"] for row in messages]


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
    now = app_settings.clock.now()
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
        mentors.pair(session, mentor, "+2348031000001", app_settings.clock.now())
        mentors.pair(session, mentor, "+2348031000002", app_settings.clock.now())
    assert runner.invoke(args=["admin", "erase", "+2348031000001", "--yes"]).exit_code == 0
    with session_scope(app_settings.database_url) as session:
        assert session.scalars(select(Pair.status).order_by(Pair.id)).all() == ["ended", "active"]
    assert runner.invoke(args=["admin", "erase", "+2348039000001", "--yes"]).exit_code == 0
    with session_scope(app_settings.database_url) as session:
        assert session.scalars(select(Pair.status).order_by(Pair.id)).all() == ["ended", "ended"]
