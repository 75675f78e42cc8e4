"""Item-writing rules: each one broken on a sample bank (and passing once fixed), the
`rounds content stats` report in text and JSON, and the bundled bank passing them all."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pytest

from content import content_root
from content.bank import load_bank
from content.check import check_content
from content.report import Problem
from content.rules import SIMILARITY_THRESHOLD, key_band, key_is_single_longest, longest_limit, similar_pairs
from tests.content_samples import write_content

TODAY = date(2026, 11, 26)

# Words for stems that share nothing, so sample items are never near-duplicates.
VOCAB = """
abdomen biceps cortex dermis enzyme fibula gland hepatic ileum jejunum keratin lymph
marrow neuron osmosis pleura quadrant retina sacrum tendon ulna valve wrist xiphoid
yolk zygote aorta bronchus cochlea duct embryo femur gallbladder humerus iris joint
kidney larynx mitral nephron ovary pancreas quadriceps renin spleen thymus uterus
vagus ventricle alveolus bursa carotid diaphragm epiglottis fascia glottis hilum
""".split()

OPTIONS = {"A": "Sodium only", "B": "Potassium", "C": "Phosphate", "D": "Bicarbonate"}


def stem_for(n: int) -> str:
    """Six words drawn for item n: two items' stems share few words, far below the threshold."""
    return " ".join(random.Random(n).sample(VOCAB, 6)).capitalize() + "?"


def item(
    ident: int,
    answer: str = "B",
    topic: str = "renal",
    stem: str = "",
    options: dict[str, str] | None = None,
    explanation: str = "Loop diuretics waste K; bicarbonate is kept.",
    tracks: str = "[step1, plab1]",
    extra: str = '  source: "StatPearls, Loop diuretics (2024)"\n  locale: intl\n',
) -> str:
    opts = options or OPTIONS
    lines = "".join(f'    {k}: "{v}"\n' for k, v in opts.items())
    return (
        f"- id: {ident}\n  topic: {topic}\n  tracks: {tracks}\n  difficulty: 2\n"
        f'  stem: "{stem or stem_for(ident)}"\n  options:\n{lines}'
        f'  answer: {answer}\n  explanation: "{explanation}"\n'
        f'  reviewer: "Test reviewer"\n  review_by: 2030-01-31\n{extra}'
    )


def balanced(first: int, count: int, topic: str = "renal") -> str:
    """`count` items keyed A, B, C, D in turn, each naming a distractor in its explanation."""
    named = {"A": "Not potassium.", "B": "Not bicarbonate.", "C": "Not potassium.", "D": "Not potassium."}
    return "".join(
        item(first + n, answer=letter, topic=topic, explanation=named[letter])
        for n, letter in ((n, "ABCD"[n % 4]) for n in range(count))
    )


def errors(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems if p.is_error]


def check(tmp_path: Path, renal: str, cardiology: str | None = None) -> list[Problem]:
    return check_content(write_content(tmp_path, renal=renal, cardiology=cardiology), TODAY)


# --- key balance ----------------------------------------------------------------------------


def test_key_band_is_20_to_30_percent_or_one_item_either_side_when_no_split_fits() -> None:
    twenty = key_band(20)
    assert (twenty.low, twenty.high, twenty.widened) == (4, 6, False)
    assert (key_band(158).low, key_band(158).high) == (32, 47)
    eleven = key_band(11)  # 3/3/3/2 is the best split: 2 is 18 %, so allow one item either side
    assert (eleven.low, eleven.high, eleven.widened) == (2, 4, True)
    assert longest_limit(158) == 47 and longest_limit(11) == 3


def test_a_topic_keyed_mostly_b_fails_and_passes_when_rebalanced(tmp_path: Path) -> None:
    skewed = "".join(item(200 + n, answer="B", explanation="Not bicarbonate.") for n in range(6))
    skewed += balanced(210, 4)
    problems = check(tmp_path / "skewed", skewed)
    messages = errors(problems)
    assert any("topic renal keys B in 7 of 10 items (70%)" in m and "allowed 2-3" in m for m in messages), (
        messages
    )
    assert any("topic renal keys A in 1 of 10" in m for m in messages), messages
    # Each letter's problem points at the answer line of the last item with that key (211).
    [b_problem] = [p for p in problems if "keys B in 7" in p.message]
    lines = skewed.splitlines()
    last_b = lines.index("  answer: B", lines.index("- id: 211")) + 1
    assert (b_problem.file.name, b_problem.line) == ("renal.yaml", last_b)
    assert b_problem.message.startswith("question 211:")
    assert not any("keys" in m for m in errors(check(tmp_path / "fixed", balanced(200, 10))))


def test_small_topics_are_not_balanced_yet(tmp_path: Path) -> None:
    seven = "".join(item(200 + n, answer="B", explanation="Not bicarbonate.") for n in range(7))
    messages = errors(check(tmp_path, seven))
    assert not any("topic renal keys" in m for m in messages), messages
    # The bank (these 7 and the sample's cardiology item) is 8 items: judged, and skewed.
    assert any("the bank keys B in 8 of 8" in m for m in messages), messages


def test_the_whole_bank_is_balanced_too(tmp_path: Path) -> None:
    # Each topic alone is too small to judge (6 items) but the bank of 13 is skewed to B.
    renal = "".join(item(200 + n, answer="B", explanation="Not bicarbonate.") for n in range(6))
    cardio = "".join(
        item(100 + n, topic="cardiology", answer="B", explanation="Not bicarbonate.") for n in range(6)
    )
    messages = errors(
        check(
            tmp_path, renal, cardio + item(120, topic="cardiology", answer="A", explanation="Not potassium.")
        )
    )
    assert any(m.startswith("question") and "the bank keys B in 12 of 13" in m for m in messages), messages


# --- the key as the longest option ----------------------------------------------------------


LONG_KEY = {"A": "Sodium", "B": "Potassium wasted in urine", "C": "Phosphate", "D": "Bicarbonate"}


def test_the_key_as_single_longest_option_in_over_30_percent_fails(tmp_path: Path) -> None:
    named = "Not bicarbonate."
    renal = "".join(item(200 + n, answer="B", options=LONG_KEY, explanation=named) for n in range(3))
    renal += balanced(210, 7)  # with the sample's cardiology item, 3 of 11: 27 %, allowed
    assert not any("longest" in m for m in errors(check(tmp_path / "ok", renal)))
    renal += item(220, answer="B", options=LONG_KEY, explanation=named)  # 4 of 12 = 33 %
    problems = check(tmp_path / "bad", renal)
    [bank] = [p for p in problems if p.is_error and "longest" in p.message]
    assert (
        "in the bank the key is the single longest option in 4 of 12 items (33%); at most 3" in bank.message
    )
    assert "200, 201, 202, 220" in bank.message
    # The same topic gets a warning that shows where to work.
    assert any(
        not p.is_error and "in topic renal the key is the single longest" in p.message for p in problems
    )


def test_a_tied_longest_key_is_not_a_cue(tmp_path: Path) -> None:
    bank = load_bank(
        write_content(tmp_path, renal=item(200, options={**LONG_KEY, "D": "Bicarbonate kept in blood"}))
    )
    [q] = [q for q in bank.questions if q.id == 200]
    assert not key_is_single_longest(q)
    [q] = [
        q
        for q in load_bank(write_content(tmp_path / "b", renal=item(200, options=LONG_KEY))).questions
        if q.id == 200
    ]
    assert key_is_single_longest(q)


# --- near-duplicates ------------------------------------------------------------------------


TWIN = "A 19yo woman took 40 tablets of a painkiller 6 h ago. She is alert. What is the next best step?"
TWIN_2 = "A 22yo woman took 24 g of a painkiller 10 h ago. She is well. What is the next best step?"


def test_near_duplicate_stems_fail_unless_marked_as_a_deliberate_pair(tmp_path: Path) -> None:
    renal = item(200, stem=TWIN, explanation="Not bicarbonate.") + item(
        201, stem=TWIN_2, answer="C", explanation="Not potassium."
    )
    problems = check(tmp_path / "twins", renal)
    [twin] = [p for p in problems if "similar" in p.message]
    assert twin.is_error and "question 201: stem is" in twin.message and "question 200" in twin.message
    assert f"threshold {SIMILARITY_THRESHOLD}" in twin.message and "pair_with: [200]" in twin.message
    # Only item 201 carries the marker (the last locale line); one side is enough.
    paired = renal[: renal.rindex("  locale: intl\n")] + (
        '  locale: intl\n  pair_with: [200]\n  pair_reason: "a 6 h level against a late dose"\n'
    )
    assert not any("similar" in m for m in errors(check(tmp_path / "paired", paired)))


def test_a_pair_needs_a_reason_and_an_item_that_exists(tmp_path: Path) -> None:
    renal = item(200, extra='  source: "StatPearls (2024)"\n  locale: intl\n  pair_with: [999]\n')
    messages = errors(check(tmp_path, renal))
    assert any("pair_with names question 999, which does not exist" in m for m in messages), messages
    assert any("pair_with needs a `pair_reason`" in m for m in messages), messages


def test_similar_pairs_scores_stems_not_options(tmp_path: Path) -> None:
    renal = item(200, stem=TWIN) + item(201, stem=TWIN_2) + item(202)
    bank = load_bank(write_content(tmp_path, renal=renal))
    pairs = [(a.id, b.id) for a, b, _ in similar_pairs(bank.questions)]
    assert pairs == [(200, 201)]


# --- sources --------------------------------------------------------------------------------


def test_an_item_without_a_source_or_a_year_fails(tmp_path: Path) -> None:
    none = item(200, extra="  locale: intl\n")
    [message] = [m for m in errors(check(tmp_path / "none", none)) if "source" in m]
    assert message.startswith("question 200: no source; add `source:`")
    undated = item(200, extra='  source: "StatPearls"\n  locale: intl\n')
    [message] = [m for m in errors(check(tmp_path / "undated", undated)) if "source" in m]
    assert "gives no year or edition" in message
    for good in ('"NICE NG185 (2020)"', '"ATLS 10th ed (2018)"'):
        dated = item(200, extra=f"  source: {good}\n  locale: intl\n")
        assert errors(check(tmp_path / good.strip('"').split()[0], dated)) == []


# --- locale ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tracks", "locale", "stem", "expected"),
    [
        ("[step1, plab1]", "", "", "no locale; add `locale: us`, `uk` or `intl`"),
        ("[step1, plab1]", "usa", "", "locale 'usa' must be one of us, uk, intl"),
        ("[step1]", "uk", "", "a 'uk' item cannot be on track step1, which serves us and intl items"),
        ("[plab1]", "us", "", "a 'us' item cannot be on track plab1, which serves uk and intl items"),
        (
            "[step1]",
            "intl",
            "Which drug after 30 paracetamol tablets?",
            "'paracetamol' is a UK name or unit on track step1; write acetaminophen",
        ),
        (
            "[step1]",
            "us",
            "Creatinine 130 umol/L: which ion is low?",
            "'umol/l' is a UK name or unit on track step1; write mg/dl",
        ),
        (
            "[plab1]",
            "uk",
            "Which drug after 30 acetaminophen tablets?",
            "'acetaminophen' is a US name on track plab1; write paracetamol",
        ),
    ],
)
def test_locale_must_fit_the_tracks_and_their_words(
    tmp_path: Path, tracks: str, locale: str, stem: str, expected: str
) -> None:
    extra = '  source: "StatPearls (2024)"\n' + (f"  locale: {locale}\n" if locale else "")
    renal = item(200, tracks=tracks, stem=stem, extra=extra)
    messages = errors(check(tmp_path, renal))
    assert any(expected in m for m in messages), messages


def test_an_item_may_give_both_names(tmp_path: Path) -> None:
    stem = "Which drug after 30 paracetamol (acetaminophen) tablets?"
    assert errors(check(tmp_path / "both", item(200, stem=stem, tracks="[step1, plab1]"))) == []
    # Read worldwide: mg/dL and mmHg are fine on PLAB.
    stem = "Glucose 504 mg/dL, BP 80/50 mmHg: which ion is low?"
    assert errors(check(tmp_path / "units", item(200, stem=stem, tracks="[plab1]"))) == []
    # Paracetamol is the international name: fine on an intl item no USMLE track serves.
    assert (
        errors(check(tmp_path / "intl", item(200, stem="Which after paracetamol?", tracks="[plab1]"))) == []
    )


# --- explanations name a distractor ---------------------------------------------------------


@pytest.mark.parametrize(
    ("explanation", "named"),
    [
        ("Loop diuretics block NKCC2 and waste K.", False),
        ("Loop diuretics waste potassium; it is the key.", False),  # the key's own word
        ("Loop diuretics waste K; bicarbonate is kept.", True),
        ("Loop diuretics waste K; phosphates are kept.", True),  # plural of a distractor word
        ("Not sodium.", True),
    ],
)
def test_the_explanation_must_name_a_distractor(tmp_path: Path, explanation: str, named: bool) -> None:
    messages = errors(check(tmp_path, item(200, explanation=explanation)))
    failed = any("the explanation names no distractor" in m for m in messages)
    assert failed is not named, messages


def test_a_roman_numeral_names_a_distractor(tmp_path: Path) -> None:
    options = {"A": "Type I error", "B": "Type II error", "C": "Lead-time bias", "D": "Confounding"}
    ok = item(
        200, options=options, explanation="Missing a real effect is type II; type I is a false positive."
    )
    assert errors(check(tmp_path / "ok", ok)) == []
    bad = item(200, options=options, explanation="Missing a real effect from low power is type II.")
    assert any("names no distractor" in m for m in errors(check(tmp_path / "bad", bad)))


# --- stats ----------------------------------------------------------------------------------


def test_stats_text_and_json(runner, tmp_path: Path) -> None:
    renal = balanced(200, 8) + item(
        230,
        answer="B",
        options=LONG_KEY,
        tracks="[plab1]",
        explanation="Not bicarbonate.",
        extra='  source: "NICE NG203 (2021)"\n  locale: uk\n',
    )
    root = write_content(tmp_path, renal=renal)
    result = runner.invoke(args=["content", "stats", str(root), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["items"] == 10  # 9 renal + 1 cardiology
    rows = {(r["track"], r["topic"], r["locale"], r["language"]): r["items"] for r in stats["counts"]}
    assert rows[("step1", "renal", "intl", "en")] == 8
    assert rows[("plab1", "renal", "intl", "en")] == 8
    assert rows[("plab1", "renal", "uk", "en")] == 1
    assert ("step1", "renal", "uk", "en") not in rows
    assert stats["keys"]["topics"]["renal"]["B"] == {"items": 3, "share": 0.333}
    assert stats["keys"]["bank"]["B"]["items"] == 4  # cardiology's sample item is keyed B
    assert stats["longest_option"]["bank"] == {"items": 1, "share": 0.1}
    assert stats["locales"] == {"intl": 9, "uk": 1}

    text = runner.invoke(args=["content", "stats", str(root)])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == "10 items"
    assert "plab1    renal          uk     en       1" in lines
    assert any(
        line.startswith("renal") and "B   3  33%" in line and "longest key   1  11%" in line for line in lines
    )


# --- the bundled bank -----------------------------------------------------------------------


def test_the_bundled_bank_passes_every_rule() -> None:
    problems = check_content(content_root(), TODAY)
    assert [str(p) for p in problems if p.is_error] == []
    rule_words = ("keys", "longest", "similar", "source", "locale", "distractor", "pair_with")
    # Question rules only: resources.yaml's own warnings (a `checked` date) say "resource".
    questions = [p for p in problems if "questions" in p.file.parts]
    assert [str(p) for p in questions if any(w in p.message for w in rule_words)] == []


def test_the_bundled_bank_carries_the_named_fixes() -> None:
    questions = {q.id: q for q in load_bank(content_root()).questions}
    # Terlipressin only for PLAB; the USMLE variant keys octreotide.
    assert "step2ck" not in questions[401].tracks and questions[401].locale == "uk"
    assert questions[412].options[questions[412].answer] == "IV octreotide" and questions[412].locale == "us"
    assert "Synacthen" not in questions[503].options[questions[503].answer]
    assert "hydroxyurea" in questions[802].stem and "GTN" not in str(questions[108].options)
    assert "mg/dL" in questions[410].stem and "mg/dL" in questions[508].stem
    assert "FIT" in questions[803].options[questions[803].answer]
    assert "channel" in questions[1004].explanation and "pump" not in questions[1004].explanation
    assert "not tolerated" in questions[1411].explanation
    assert "/uL" in questions[806].stem and "/uL" in questions[809].stem
    weak = {1310: "CTG", 1309: "Diverticulitis", 209: "Nightly zopiclone", 1107: "Report to the police"}
    weak[1406] = "Bed rails and restraint"
    for ident, text in weak.items():
        assert text not in questions[ident].options.values(), ident
    # The named near-duplicates are rewritten or marked as deliberate pairs.
    close = {frozenset((a.id, b.id)) for a, b, _ in similar_pairs(list(questions.values()))}
    for a, b in ((904, 1401), (606, 1211), (407, 907), (303, 1210)):
        if frozenset((a, b)) in close:
            assert b in questions[a].pair_with or a in questions[b].pair_with, (a, b)


def test_a_skewed_track_is_a_warning(tmp_path: Path) -> None:
    # 16 renal items keyed A-D four times each (and the sample's cardiology item, keyed B):
    # bank and topic balance, but PLAB gets every B and one each of A, C and D.
    named = {"A": "Not potassium.", "B": "Not bicarbonate.", "C": "Not potassium.", "D": "Not potassium."}
    letters = "ABCD" * 4
    renal = "".join(
        item(200 + n, answer=x, explanation=named[x], tracks="[plab1]" if x == "B" or n < 4 else "[step1]")
        for n, x in enumerate(letters)
    )
    problems = check(tmp_path, renal)
    assert errors(problems) == []
    warnings = [p.message for p in problems if not p.is_error]
    assert any("track plab1 keys B in 5 of 8 items (62%); allowed 2 (20-30 %)" in m for m in warnings), (
        warnings
    )
