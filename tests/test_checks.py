"""The argument checks and message helpers every layer shares (tinygrad_scalar._checks)."""

from __future__ import annotations

from tinygrad_scalar._checks import quote_input


def test_quote_input_cuts_text_and_describes_numbers_too_long_to_print():
    assert quote_input("x=1") == "'x=1'"
    assert quote_input("y" * 500) == repr("y" * 97 + "...")
    assert quote_input([0] * 1000).endswith("...") and len(quote_input([0] * 1000)) == 100
    # repr() itself refuses ints over 4300 digits
    assert quote_input(10**5000) == "<an integer of about 5,000 digits>"
