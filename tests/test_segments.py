"""Segment arithmetic as carriers bill it, and the GSM-7 normaliser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content.segments import count, for_channel, is_gsm7, normalise, segment_count, truncate_to

ARABIC = "مرحبا"  # five letters, all outside GSM-7
EMOJI = "\U0001f600"  # one character, a surrogate pair in UTF-16


@pytest.mark.parametrize(
    ("length", "segments"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries_160_then_153_per_part(length: int, segments: int) -> None:
    result = count("a" * length)
    assert (result.encoding, result.units, result.segments) == ("GSM-7", length, segments)


@pytest.mark.parametrize("char", list("^{}\\[~]|€"))
def test_extension_characters_count_two(char: str) -> None:
    assert count("a" * 158 + char) == count("a" * 160)
    assert count("a" * 159 + char).units == 161
    assert segment_count("a" * 159 + char) == 2


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # 152 septets then a two-septet euro: the pair moves whole to part two.
    text = "a" * 152 + "€" + "a" * 151
    assert count(text).units == 305 and segment_count(text) == 2
    # Same 306 units as 306 plain letters (2 segments), but the moved pair costs a third.
    text = "a" * 152 + "€" + "a" * 152
    assert count(text).units == 306 and segment_count(text) == 3
    assert segment_count("a" * 306) == 2


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_ucs2_boundaries_70_then_67_per_part(length: int, segments: int) -> None:
    result = count("ж" * length)
    assert (result.encoding, result.units, result.segments) == ("UCS-2", length, segments)


def test_one_non_gsm_character_makes_the_whole_text_ucs2() -> None:
    assert segment_count("a" * 160) == 1
    assert count("a" * 159 + "ê").encoding == "UCS-2"
    assert segment_count("a" * 159 + "ê") == 3  # 160 UTF-16 units in 67-unit parts


def test_emoji_counts_two_utf16_units() -> None:
    assert count(EMOJI).units == 2
    assert segment_count("ж" * 68 + EMOJI) == 1
    assert segment_count("ж" * 69 + EMOJI) == 2


def test_a_surrogate_pair_is_never_split_across_parts() -> None:
    text = "ж" * 66 + EMOJI + "ж" * 65  # part one 66 units, the pair opens part two
    assert count(text).units == 133 and segment_count(text) == 2
    text = "ж" * 66 + EMOJI + "ж" * 66  # 134 units would fit two parts only if split
    assert count(text).units == 134 and segment_count(text) == 3


def test_arabic_text_is_ucs2() -> None:
    assert not is_gsm7(ARABIC)
    assert count(ARABIC * 14) == count("ж" * 70)
    assert segment_count(ARABIC * 14) == 1
    assert segment_count(ARABIC * 14 + "ا") == 2


def test_normalise_keeps_english_in_gsm7() -> None:
    raw = "\u2018Don\u2019t\u2019 \u201cstop\u201d \u2013 wait \u2014 then\u2026\u00a0go\u2009now"
    assert not is_gsm7(raw)
    plain = normalise(raw)
    assert plain == "'Don't' \"stop\" - wait - then... go now"
    assert is_gsm7(plain)
    assert count(plain).encoding == "GSM-7"


def test_normalise_leaves_real_accented_words_alone() -> None:
    assert normalise("Très bien, à demain") == "Très bien, à demain"
    assert normalise("é è à ù ì ò Ç Ñ ü") == "é è à ù ì ò Ç Ñ ü"  # all GSM-7 already


# Every accented letter and sign of the GSM 03.38 basic set: SMS keeps them as they are.
GSM7_ACCENTS = "é è à ù ì ò Ç É ñ Ñ ü Ü ä Ä ö Ö Å å Ø ø Æ æ ß ¿ ¡".split()
# Letters French, Spanish and Portuguese use that GSM-7 lacks, and what SMS sends instead.
FOLDED_ON_SMS = {
    "á": "a", "í": "i", "ó": "o", "ú": "u", "â": "a", "ê": "e", "î": "i", "ô": "o", "û": "u",
    "ë": "e", "ï": "i", "ÿ": "y", "ç": "c", "ã": "a", "õ": "o", "œ": "oe",
    "Á": "A", "Í": "I", "Ó": "O", "Ú": "U", "À": "A", "È": "E", "Ê": "E", "Î": "I", "Ô": "O",
    "Œ": "OE",
}  # fmt: skip


@pytest.mark.parametrize("letter", GSM7_ACCENTS)
def test_sms_keeps_the_accents_gsm7_has(letter: str) -> None:
    word = f"x{letter}x"
    assert for_channel(word, "sms") == word
    assert count(for_channel(word, "sms")).encoding == "GSM-7"
    assert for_channel(word, "whatsapp") == word


@pytest.mark.parametrize(("letter", "plain"), FOLDED_ON_SMS.items())
def test_sms_folds_only_the_letters_gsm7_lacks(letter: str, plain: str) -> None:
    word = f"x{letter}x"
    assert count(word).encoding == "UCS-2"
    assert for_channel(word, "sms") == f"x{plain}x"
    assert count(for_channel(word, "sms")).encoding == "GSM-7"
    assert for_channel(word, "whatsapp") == word  # WhatsApp gets the full spelling


def test_sms_rendering_of_real_sentences() -> None:
    french = "Vous êtes à l\u2019heure : réponse reçue, très bien. Ça marche ? Œdème, août, maïs."
    assert (
        for_channel(french, "sms")
        == "Vous etes à l'heure : réponse recue, très bien. Ça marche ? OEdème, aout, mais."
    )
    spanish = "¿Cómo estás? Tu próxima pregunta llega mañana; ¡ánimo, pingüino!"
    assert for_channel(spanish, "sms") == "¿Como estas? Tu proxima pregunta llega mañana; ¡animo, pingüino!"
    assert for_channel(spanish, "whatsapp") == spanish
    # A text whose channel is unknown is normalised but never folded.
    assert for_channel(french, None) == french.replace("\u2019", "'")


def test_sms_folding_leaves_what_it_cannot_fold() -> None:
    assert for_channel(f"ok {ARABIC} {EMOJI}", "sms") == f"ok {ARABIC} {EMOJI}"
    assert count(for_channel("Gr\u00fc\u00dfe \u2014 5\u00b0", "sms")).encoding == "GSM-7"


def test_truncate_to_cuts_with_an_ellipsis_only_when_needed() -> None:
    short = "Short enough."
    assert truncate_to(short, 1) == short
    cut = truncate_to("word " * 100, 1)
    assert cut.endswith("...") and segment_count(cut) == 1 and len(cut) > 150
    cut = truncate_to("€" * 200, 1)  # two septets each: 78 euros plus ... is 159
    assert cut == "€" * 78 + "..."
    cut = truncate_to("ж" * 300, 2)
    assert segment_count(cut) == 2 and cut.endswith("...")


@given(st.text(max_size=600), st.integers(min_value=1, max_value=4))
def test_truncate_to_always_fits(text: str, segments: int) -> None:
    cut = truncate_to(text, segments)
    assert segment_count(cut) <= segments
    if segment_count(text) <= segments:
        assert cut == text


@given(st.text(max_size=400))
def test_segments_never_fewer_than_units_allow(text: str) -> None:
    result = count(text)
    single, part = (160, 153) if result.encoding == "GSM-7" else (70, 67)
    if result.units <= single:
        assert result.segments == 1
    else:
        assert result.segments >= -(-result.units // part)


MIXED = "ab Z_@\n\r`{[~\t\x0c\x01éñ¿Δêá\u2019\u00a0€\U0001f600"  # plain, escaped, foldable, UCS-2


@given(st.text(alphabet=st.sampled_from(MIXED), max_size=400))
def test_the_plain_gsm7_shortcut_counts_and_renders_as_the_full_walk(text: str) -> None:
    from content.segments import _walk, fold_for_sms

    assert count(text) == _walk(text)
    assert for_channel(text, "sms") == fold_for_sms(normalise(text))
    assert for_channel(text, "whatsapp") == normalise(text)
