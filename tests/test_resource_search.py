"""`RES <any words>`: search quality over the bundled library, language first, the menu when
nothing matches, the content rules for tags, locale and checks, and RES through the webhook."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from content.catalog import get_catalog
from content.check import check_content
from content.load import load_content
from content.search import Entry, ResourceIndex, entries_from_content, load_vocabulary
from flows.engine import Context
from flows.resources import find
from tests.conftest import Phone as WebPhone
from tests.content_samples import write_content
from tests.flows_support import TAXONOMY, Phone

TODAY = date(2026, 11, 26)
NIGERIA = "+2348031234567"

# query, the student's language, the resources any one of which in the top three is a hit
MYASTHENIA = {"ninds-mg", "nhs-mg", "mgfa"}
HEART_ATTACK = {"nhs-heart-attack", "medlineplus-mi", "nice-ng185", "esc-guidelines", "acc-guidelines"}
ECG = {"litfl-ecg", "ecg-wavemaven", "ecgpedia"}
PAEDS = {"teachme-paeds", "dftb", "rch-cpg", "who-pocketbook", "nice-ng143", "bnfc"}
DIABETES = {"ada-soc", "nice-ng28", "nice-ng17", "nice-ng18", "endotext"}
STATS = {"openintro-stats", "bmj-stats", "khan-stats", "openstax-stats", "seeing-theory"}
TABLE = [
    ("myasthenia", "en", MYASTHENIA),
    ("myasthenia gravis", "en", MYASTHENIA),
    ("myastenia", "en", MYASTHENIA),
    ("heart attack", "en", HEART_ATTACK),
    ("MI", "en", HEART_ATTACK),
    ("stemi", "en", HEART_ATTACK | {"litfl-ecg"}),
    ("acute coronary syndrome", "en", {"nice-ng185", "esc-guidelines", "acc-guidelines"}),
    ("ecg", "en", ECG),
    ("EKG", "en", ECG),
    ("electrocardiogram", "en", ECG),
    ("paeds", "en", PAEDS),
    ("pediatrics", "en", PAEDS),
    ("malaria", "en", {"who-malaria", "cdc-malaria", "who-malaria-fs"}),
    ("high blood pressure", "en", {"nice-ng136"}),
    ("htn", "en", {"nice-ng136"}),
    ("af", "en", {"nice-ng196", "esc-guidelines"}),
    ("heart failure", "en", {"nice-ng106"}),
    ("asthma", "en", {"gina", "nice-ng245"}),
    ("copd", "en", {"gold-copd", "nice-ng115"}),
    ("tb", "en", {"who-tb", "cdc-tb"}),
    ("tuberculosis", "en", {"who-tb", "cdc-tb"}),
    ("hiv", "en", {"hiv-guidelines", "cdc-hiv", "bhiva"}),
    ("sepsis", "en", {"nice-ng51", "ssc"}),
    ("meningitis", "en", {"nice-ng240"}),
    ("uti", "en", {"nice-ng109"}),
    ("water infection", "en", {"nice-ng109"}),
    ("ckd", "en", {"kdigo", "nice-ng203"}),
    ("aki", "en", {"nice-ng148", "kdigo"}),
    ("dka", "en", {"nice-ng17", "nice-ng18", "ispad"}),
    ("type 1 diabetes", "en", {"nice-ng17", "ispad", "nice-ng18"}),
    ("t2dm", "en", {"nice-ng28", "ada-soc"}),
    ("sugar", "en", DIABETES),
    ("thyroid", "en", {"nice-ng145", "endotext"}),
    ("graves", "en", {"nice-ng145"}),
    ("stroke", "en", {"nice-ng128"}),
    ("mini stroke", "en", {"nice-ng128"}),
    ("fits", "en", {"nice-ng217", "ilae"}),
    ("migraine", "en", {"nice-cg150"}),
    ("parkinsons", "en", {"nice-ng71"}),
    ("anemia", "en", {"cks-iron", "bsh"}),
    ("sickle cell", "en", {"sickle-cell-soc"}),
    ("dvt", "en", {"nice-ng158", "nice-ng89"}),
    ("blood clot", "en", {"nice-ng158", "nice-ng89"}),
    ("bnf", "en", {"bnf", "bnfc"}),
    ("drug doses", "en", {"bnf", "bnfc"}),
    ("acetaminophen", "en", {"livertox"}),
    ("drug interactions", "en", {"hiv-ddi", "bnf"}),
    ("breastfeeding", "en", {"lactmed"}),
    ("vaccines", "en", {"cdc-pinkbook", "green-book", "cdc-vaccines"}),
    ("immunization", "en", {"cdc-pinkbook", "green-book", "cdc-vaccines"}),
    ("stats", "en", STATS),
    ("confidence interval", "en", {"bmj-stats"}),
    ("ethics", "en", {"gmc-ethics", "wma"}),
    ("consent", "en", {"gmc-ethics"}),
    ("pre-eclampsia", "en", {"nice-ng133", "rcog-gtg"}),
    ("pph", "en", {"rcog-gtg", "who-maternal", "figo"}),
    ("contraception", "en", {"fp-handbook", "fsrh"}),
    ("pregnancy", "en", {"who-anc", "nice-ng201"}),
    ("depression", "en", {"nice-ng222", "who-mhgap"}),
    ("schizophrenia", "en", {"nice-cg178"}),
    ("bipolar", "en", {"nice-cg185"}),
    ("adhd", "en", {"nice-ng87"}),
    ("self harm", "en", {"nice-ng225"}),
    ("dementia", "en", {"nice-ng97"}),
    ("osce", "en", {"geeky-medics"}),
    ("plab", "en", {"gmc-plab1", "nice-cks", "zero-to-finals"}),
    ("usmle", "en", {"usmle-step1", "usmle-step2ck"}),
    ("step 1", "en", {"usmle-step1"}),
    ("x-ray", "en", {"radiopaedia"}),
    ("anatomy", "en", {"teachme-anatomy", "openstax-ap"}),
    ("rare diseases", "en", {"orphanet", "nord"}),
    ("dengue", "en", {"who-dengue", "cdc-dengue"}),
    ("cholera", "en", {"who-cholera"}),
    ("snake bite", "en", {"who-snakebite"}),
    ("skin rash", "en", {"dermnet"}),
    ("gerd", "en", {"nice-cg184"}),
    ("h pylori", "en", {"nice-cg184", "wgo"}),
    ("cirrhosis", "en", {"nice-ng50", "easl"}),
    ("crohns", "en", {"nice-ng129"}),
    ("paludisme", "fr", {"who-malaria-fr"}),
    ("infarctus", "fr", {"sfcardio"}),
    ("tuberculose", "fr", {"who-tb-fr"}),
    ("vih", "fr", {"who-hiv-fr"}),
    ("diabète", "fr", {"who-diabetes-fr"}),
    ("hypertension artérielle", "fr", {"who-htn-fr"}),
    ("pédiatrie", "fr", {"sfpediatrie"}),
    ("choléra", "fr", {"who-cholera-fr"}),
    ("myasthénie", "fr", {"cen-neuro"}),
    ("infarto", "es", {"medlineplus-mi-es", "secardio"}),
    ("paludismo", "es", {"who-malaria-es", "paho-malaria"}),
    ("dengue", "es", {"who-dengue-es", "paho-dengue"}),
    ("tuberculosis", "es", {"who-tb-es", "paho-tb"}),
    ("pediatría", "es", {"sap-pediatria", "aeped"}),
    ("vih", "es", {"who-hiv-es"}),
    ("hipertensión", "es", {"who-htn-es"}),
    ("diabetes", "es", {"who-diabetes-es"}),
    ("cáncer", "es", {"nci-es"}),
    ("enfermedades raras", "es", {"orphanet"}),
]


@pytest.fixture
def library(db, settings):
    """The bundled library and bank in the database, and a context to search it with."""
    load_content(db, None, TODAY)
    db.flush()
    return Context(db, get_catalog(settings.content_path), settings, settings.clock.now())


def test_search_quality_table(library):
    assert len(TABLE) >= 50
    misses = []
    for words, language, expected in TABLE:
        _, found = find(library, words, language)
        top = found[:3]
        if not expected & set(top):
            misses.append(f"RES {words} ({language}): got {top}, wanted one of {sorted(expected)}")
    hits = len(TABLE) - len(misses)
    print(f"search quality: {hits}/{len(TABLE)} top-3 hits ({hits / len(TABLE):.0%})")
    print("\n".join(misses))
    assert hits / len(TABLE) >= 0.9, "\n".join(misses)


def test_unknown_words_find_nothing(library):
    assert find(library, "astrology horoscope") == (None, [])
    assert find(library, "zzzz") == (None, [])


@pytest.fixture
def student(db, settings, library):
    phone = Phone(db, settings, NIGERIA, settings.clock.now())
    phone.onboard()
    return phone


def _titles(page: str) -> list[str]:
    """The resource titles of a RES page: each line after the header, up to its link."""
    return [line.split(" http")[0] for line in page.splitlines()[1:] if "http" in line]


@pytest.mark.parametrize(
    ("words", "first"),
    [
        ("myasthenia", {"NINDS Myasthenia gravis", "NHS Myasthenia gravis", "Myasthenia Gravis Foundation"}),
        ("heart attack", {"NHS Heart attack", "MedlinePlus Heart attack"}),
        ("MI", {"NHS Heart attack", "MedlinePlus Heart attack"}),
        ("ecg", {"LITFL ECG Library", "ECG Wave-Maven (Harvard BIDMC)"}),
        ("paeds", {"RCH clinical guidelines (paeds)", "TeachMePaediatrics", "Don't Forget the Bubbles"}),
        ("infarto", {"NHS Heart attack", "MedlinePlus Heart attack"}),
        ("paludisme", {"WHO Guidelines for malaria", "CDC Malaria", "WHO Malaria fact sheet"}),
    ],
)
def test_the_issue_queries_give_one_to_three_good_links(student, words, first):
    page = student.say(f"RES {words}")
    titles = _titles(page)
    assert 1 <= len(titles) <= 3, page
    assert titles[0] in first, page


def test_a_search_page_is_headed_by_the_words_and_pages_on(student):
    page = student.say("RES heart attack")
    assert page.startswith("heart attack:\n"), page
    assert page.endswith("Text RES MORE for more."), page
    first = _titles(page)
    second = _titles(student.say("RES MORE"))
    assert second and not set(first) & set(second)


@pytest.mark.parametrize(
    ("language", "words", "first", "then"),
    [
        ("fr", "paludisme", {"OMS Paludisme"}, "WHO Guidelines for malaria"),
        ("es", "paludismo", {"OPS Malaria", "OMS Paludismo (malaria)"}, "CDC Malaria"),
        (
            "es",
            "infarto",
            {"MedlinePlus Ataque al corazon", "Sociedad Espanola Cardiologia"},
            "NHS Heart attack",
        ),
        ("fr", "infarctus", {"Societe Francaise de Cardiologie"}, "NHS Heart attack"),
    ],
)
def test_a_student_gets_their_language_first_then_english(student, language, words, first, then):
    student.say(f"LANG {language}")
    titles = _titles(student.say(f"RES {words}"))
    assert titles[0] in first, titles
    assert then in titles, titles
    # An English student gets English links first for the same words.
    student.say("LANG en")
    assert _titles(student.say(f"RES {words}"))[0] not in first


def test_nothing_found_is_the_topic_menu(student):
    reply = student.say("RES astrology")
    assert reply.startswith("I don't know that topic. Text RES and one of: Cardiology")


def test_question_words_lead_to_their_topic(tmp_path: Path):
    (tmp_path / "taxonomy.yaml").write_text(TAXONOMY)
    entries = [
        Entry("kidney", "Kidney Primer", ("renal",), ("en",)),
        Entry("heart", "Heart Book", ("cardiology",), ("en",)),
    ]
    assert ResourceIndex(entries, load_vocabulary(str(tmp_path))).search("nephrocalcinosis") == []
    (tmp_path / "questions").mkdir()
    (tmp_path / "questions" / "renal.yaml").write_text(
        "- id: 1\n  topic: renal\n  stem: 'Which drug causes nephrocalcinosis?'\n"
        "- id: 2\n  topic: renal\n  stem: 'Medullary nephrocalcinosis on the film: the cause?'\n"
        "- id: 3\n  topic: cardiology\n  stem: 'Which murmur?'\n"
    )
    load_vocabulary.cache_clear()
    hits = ResourceIndex(entries, load_vocabulary(str(tmp_path))).search("nephrocalcinosis")
    assert [h.id for h in hits] == ["kidney"]


def test_synonyms_and_tags_reach_resources_the_title_does_not_name(tmp_path: Path):
    (tmp_path / "synonyms.yaml").write_text("- [myocardial infarction, heart attack, infarto]\n")
    entries = [
        Entry("acs", "NICE NG185", ("cardiology",), ("en",), tags=("myocardial infarction",)),
        Entry("other", "Something else", ("cardiology",), ("en",), tags=("murmurs",)),
    ]
    index = ResourceIndex(entries, load_vocabulary(str(tmp_path)))
    for words in ("heart attack", "INFARTO", "myocardial infarction"):
        assert [h.id for h in index.search(words)] == ["acs"], words


def test_the_bundled_library_is_large_free_and_in_three_languages():
    entries = entries_from_content()
    assert len(entries) >= 150
    ids = {e.id for e in entries}
    assert {
        "nice-cks",
        "bnf",
        "ncbi-bookshelf",
        "cdc-malaria",
        "who-fs",
        "msd-es",
        "msd-fr",
        "paho-es",
    } <= ids
    for language in ("fr", "es"):
        assert sum(language in e.languages for e in entries) >= 20, language
    assert all(e.tags and e.locale in ("us", "uk", "intl") for e in entries)


# --- content rules for the new fields -------------------------------------------------------

# Lines of the second sample resource (kidney-basics) in tests/content_samples.py.
LANGUAGES, LOCALE, TAGS, CHECKED, CHECKED_HOW = 17, 18, 19, 20, 21


def _resources_with(tmp_path: Path, old: str, new: str) -> list:
    root = write_content(tmp_path)
    path = root / "resources.yaml"
    head, found, tail = path.read_text().rpartition(old)  # the last one: kidney-basics
    assert found
    path.write_text(head + new + tail)
    return check_content(root, TODAY)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("locale: intl", "locale: global", LOCALE, "must be one of us, uk, intl"),
        ("languages: [en, fr]", "languages: [en, french]", LANGUAGES, "two-letter code"),
        ("tags: [kidney function, acute kidney injury]", "tags: []", TAGS, "at least one tag"),
        ("tags: [kidney function, acute kidney injury]", "tags: [Kidney Function]", TAGS, "lowercase ASCII"),
        ("tags: [kidney function, acute kidney injury]", "tags: [rein, néphron]", TAGS, "lowercase ASCII"),
        (
            'checked_how: "opened in a browser; the page title matches"',
            'checked_how: "ok"',
            CHECKED_HOW,
            "say how",
        ),
        ("  locale: intl\n", "", 12, "'locale' is missing"),
        ("  checked: 2026-11-20\n  checked_how", "  checked: soon\n  checked_how", CHECKED, "must be a date"),
    ],
)
def test_resource_search_fields_are_checked(tmp_path, old, new, line, words):
    errors = [p for p in _resources_with(tmp_path, old, new) if p.is_error]
    assert [(p.file.name, p.line) for p in errors] == [("resources.yaml", line)], errors
    assert words in errors[0].message


@pytest.mark.parametrize(
    ("checked", "words"), [("2025-06-01", "check it again"), ("2027-01-01", "after today")]
)
def test_old_or_future_check_dates_are_warnings(tmp_path, checked, words):
    problems = _resources_with(
        tmp_path, "  checked: 2026-11-20\n  checked_how", f"  checked: {checked}\n  checked_how"
    )
    assert not [p for p in problems if p.is_error]
    [warning] = [p for p in problems if words in p.message]
    assert warning.line == CHECKED


@pytest.mark.parametrize(
    ("synonyms", "line", "words"),
    [
        ("- [mi, heart attack]\n- [ecg, mi]\n", 2, "already in the group at line 1"),
        ("- [mi, heart attack]\n- [lonely]\n", 2, "at least two words"),
        ("- [Infarto, mi]\n", 1, "lowercase ASCII"),
        ("- [pre-eclampsia, pet]\n", 1, "lowercase ASCII"),
        ("- [mi, heart attack]\n- just words\n", 2, "must be a list of words"),
    ],
)
def test_synonym_groups_are_checked(tmp_path, synonyms, line, words):
    root = write_content(tmp_path)
    (root / "synonyms.yaml").write_text(synonyms)
    errors = [p for p in check_content(root, TODAY) if p.is_error]
    assert [(p.file.name, p.line) for p in errors] == [("synonyms.yaml", line)], errors
    assert words in errors[0].message


# --- through the signed webhook, on SQLite and PostgreSQL ----------------------------------


def test_res_with_any_words_through_the_webhook(client, db):
    load_content(db, None, TODAY)
    db.commit()
    phone = WebPhone(client, "+2348031234222")
    for text in ("JOIN", "Ada", "1", "08:00"):
        phone.text(text)
    [page] = phone.text("RES heart attack")
    assert page.startswith("heart attack:\n") and "NHS Heart attack" in page
    phone.text("LANG fr")
    [page] = phone.text("RES paludisme")
    assert _titles(page)[0] == "OMS Paludisme"
    [menu] = phone.text("RES astrology")
    assert "Cardiology" in menu and "http" not in menu


def test_an_edited_or_retired_resource_is_searched_as_it_now_is(db, settings, tmp_path):
    from store.models import Resource
    from tests.flows_support import content_folder, seed_library

    chat = settings.with_(content_path=str(content_folder(tmp_path)))
    seed_library(db)
    phone = Phone(db, chat, NIGERIA, settings.clock.now())
    phone.onboard()
    assert _titles(phone.say("RES murmur"))[0] == "Murmurs Made Easy"
    db.get(Resource, "cardio-c").title = "Valve Sounds"
    db.flush()
    assert phone.say("RES murmur").startswith("I don't know that topic")
    db.get(Resource, "cardio-b").title = "ECG and Murmur Basics"
    db.get(Resource, "cardio-a").active = False
    db.flush()
    assert _titles(phone.say("RES murmur")) == ["ECG and Murmur Basics"]
    assert "Heart Book" not in phone.say("RES cardio")
