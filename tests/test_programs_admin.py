"""Programs for admins: `rounds program` (cohorts, revoke), /api/v1/programs and /certificates with
roles, the console page (drop-off chart, small groups withheld, revoke), the public /verify page,
and the answers to bad input by text."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from content.segments import segment_count
from store.db import session_scope
from store.models import Person
from store.programs import COMPLETED, LEFT, Certificate, Programs
from tests.admin_support import add_person, bearer, make_admin, make_token, post, sign_in
from tests.conftest import Phone
from tests.programs_support import load_with_fixture

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
STUDENT = "+2348031234111"


@pytest.fixture
def loaded(app_settings):
    load_with_fixture(app_settings)
    return app_settings


def enrol_many(
    settings, count: int, day: int, status: str = "active", prefix: str = "+23480200"
) -> list[str]:
    """`count` students enrolled in TST at `day`; completed ones get a certificate. Their codes."""
    codes = []
    with session_scope(settings.database_url) as session:
        store = Programs(session)
        program = store.by_code("TST")
        for n in range(count):
            person = Person(
                phone=f"{prefix}{day}{n:03d}",
                name=f"Bola{n} Surname",
                track="step1",
                daily_time="08:00",
                flow_state={},
            )
            session.add(person)
            session.flush()
            enrolment = store.enrol(person.id, program, None, NOW)
            enrolment.day, enrolment.status = day, status
            if status == COMPLETED:
                codes.append(store.issue(enrolment, "Bola", 90, date(2026, 11, 20), NOW).code)
    return codes


def test_cohorts_from_the_cli_show_in_programs_and_in_join(loaded, client, runner):
    add_person(loaded, STUDENT, name="Ada Obi", timezone="Africa/Lagos")
    phone = Phone(client, STUDENT)
    (before,) = phone.text("PROGRAMS")
    assert "TST: Study design basics, 4 days" in before and "next group" not in before
    result = runner.invoke(args=["program", "open", "tst", "--start", "2026-12-07"])
    assert result.exit_code == 0, result.output
    assert "TST: a cohort starts on 2026-12-07" in result.output
    (after,) = phone.text("PROGRAMS")
    assert "TST: Study design basics, 4 days, next group 7 Dec" in after
    assert phone.text("JOIN TST") == [
        "You're in Study design basics. Your group starts on 7 Dec, at your daily time, 08:00. LEAVE to stop."
    ]
    assert phone.text("NEXT") == ["Study design basics: your group starts on 7 Dec."]
    assert phone.text("PROGRAM") == ["Study design basics: your group starts on 7 Dec."]
    past = runner.invoke(args=["program", "open", "TST", "--start", "2026-11-01"])
    assert past.exit_code != 0 and "has passed" in past.output
    nope = runner.invoke(args=["program", "open", "NOPE", "--start", "2026-12-07"])
    assert nope.exit_code != 0 and "no open program NOPE" in nope.output
    listed = runner.invoke(args=["program", "list"])
    assert "TST\t4 days\t5 questions\tStudy design basics\tnext cohort 2026-12-07" in listed.output


def test_bad_input_gets_one_helpful_segment(loaded, client):
    add_person(loaded, STUDENT, name="Ada Obi", timezone="Africa/Lagos")
    phone = Phone(client, STUDENT)
    answers = {
        "JOIN NOPE": "No program called NOPE. Text PROGRAMS to see the codes, then JOIN and a code.",
        "LEAVE": "You're not in a program. Text PROGRAMS to see them, then JOIN and a code.",
        "PROGRAM": "You're not in a program. Text PROGRAMS to see them, then JOIN and a code.",
        "NEXT": "You're not in a program. Text PROGRAMS to see them, then JOIN and a code.",
        "VERIFY garbage": "No such certificate: garbage. Check the code, as in VERIFY RND-7K3P9Q.",
        "VERIFY": "Text VERIFY and the certificate code, as in VERIFY RND-7K3P9Q.",
        "VERIFY \x1b\U0001f600": "No such certificate: ?. Check the code, as in VERIFY RND-7K3P9Q.",
        "JOIN NO\x1bPE!": "No program called NOPE. Text PROGRAMS to see the codes, then JOIN and a code.",
    }
    for text, expected in answers.items():
        assert phone.text(text) == [expected], text
        assert segment_count(expected) == 1
    phone.text("JOIN TST")
    (twice,) = phone.text("JOIN TST")
    assert twice == "You're already in Study design basics (day 0 of 4). Text PROGRAM to see where you are."
    assert segment_count(twice) == 1
    (where,) = phone.text("PROGRAM")
    assert where == "Study design basics starts at your daily time, 08:00. Text NEXT to start now."
    (left,) = phone.text("LEAVE")
    assert left.startswith("You left Study design basics at day 0 of 4. JOIN TST picks it up again.")
    assert phone.text("LEAVE") == [answers["LEAVE"]]


def test_program_questions_do_not_count_against_the_daily_cap(loaded, client):
    add_person(loaded, STUDENT, name="Ada Obi", timezone="Africa/Lagos")
    phone = Phone(client, STUDENT)
    phone.text("JOIN TST")
    (day1,) = phone.text("NEXT")
    assert day1.startswith("TST 1/4: Q1112")
    phone.text("C")
    asked = [phone.text("Q")[0] for _ in range(loaded.daily_question_cap)]
    assert all(text.startswith("Q") for text in asked)
    (capped,) = phone.text("Q")
    assert capped.startswith("That's all for today")


def test_api_figures_withhold_small_groups_and_revoke_needs_an_admin(loaded, client):
    enrol_many(loaded, 12, day=2)
    codes = enrol_many(loaded, 3, day=4, status=COMPLETED)
    enrol_many(loaded, 10, day=1, status=LEFT)
    viewer = bearer(make_token(loaded, "viewer"))
    response = client.get("/api/v1/programs", headers=viewer)
    assert response.status_code == 200
    (tst,) = [p for p in response.json["programs"] if p["code"] == "TST"]
    assert tst["enrolled"] == 25 and tst["in_progress"] == 12 and tst["left"] == 10
    assert tst["completed"] is None and tst["certificates"] is None  # 3: too few to show
    assert [d["reached"] for d in tst["by_day"]] == [25, 15, None, None]
    certificates = client.get("/api/v1/certificates", headers=viewer).json["certificates"]
    assert {c["code"] for c in certificates} == set(codes)
    assert all("phone" not in c and "Surname" not in str(c) for c in certificates)
    assert client.post(f"/api/v1/certificates/{codes[0]}/revoke", headers=viewer).status_code == 403
    admin = bearer(make_token(loaded, "admin"))
    revoked = client.post(f"/api/v1/certificates/{codes[0]}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json["certificate"]["revoked_by"] == "admin@example.org"
    assert client.post("/api/v1/certificates/RND-NOPE22/revoke", headers=admin).status_code == 404
    cohort = client.post("/api/v1/programs/TST/cohorts", json={"starts_on": "2026-12-07"}, headers=admin)
    assert cohort.status_code == 201 and cohort.json["starts_on"] == "2026-12-07"
    spec = client.get("/api/v1/openapi.json").json
    assert "/programs" in spec["paths"] and "/certificates/{code}/revoke" in spec["paths"]


def test_console_page_charts_drop_off_and_revokes(loaded, client, runner):
    enrol_many(loaded, 11, day=3)
    codes = enrol_many(loaded, 10, day=4, status=COMPLETED)
    make_admin(loaded)
    sign_in(client)
    page = client.get("/admin/programs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and len(page.data) < 100_000
    assert "<svg" in html and "TST: enrolments that reached each day" in html and "<script" not in html
    assert "+23480200" not in html and "Surname" not in html
    assert codes[0] in html
    done = post(client, f"/admin/programs/certificates/{codes[0]}/revoke")
    assert done.status_code == 302
    with session_scope(loaded.database_url) as session:
        row = session.scalar(select(Certificate).where(Certificate.code == codes[0]))
        assert row.revoked_at is not None and row.revoked_by == "ada@example.org"
    stranger = Phone(client, "+447700900123")
    assert stranger.text(f"VERIFY {codes[0]}") == [
        f"Certificate {codes[0]} was withdrawn and is no longer valid."
    ]
    result = runner.invoke(args=["program", "revoke", codes[1]])
    assert result.exit_code == 0 and f"certificate {codes[1]} revoked" in result.output
    gone = client.get(f"/verify/{codes[1]}")
    assert gone.status_code == 200 and "withdrawn" in gone.get_data(as_text=True)


def test_the_public_verify_page(loaded, client):
    (code,) = enrol_many(loaded, 1, day=4, status=COMPLETED)
    page = client.get(f"/verify/{code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Bola" in html and "Study design basics" in html and "20 November 2026" in html
    assert "Surname" not in html and "+23480200" not in html
    missing = client.get("/verify/RND-AAAAAA")
    assert missing.status_code == 404 and "No such certificate" in missing.get_data(as_text=True)
