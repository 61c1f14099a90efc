"""actor: which cookie values are trusted, and the ids the site mints."""

from __future__ import annotations

import re

import pytest

from django_brockman.actor import ActorMint, clean_actor_id, new_actor_id


@pytest.mark.parametrize(
    "value",
    ["0f8fad5b-d9cb-469f-a165-70867728950e", "a", "A_b-9", "x" * 64, "1234"],
)
def test_clean_actor_id_keeps_tokens(value: str) -> None:
    assert clean_actor_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "x" * 65,
        "abc\n",
        "a b",
        '"><script>alert(1)</script>',
        "abc;path=/",
        "caf\u00e9",
        "\u0661\u0662",  # Arabic-Indic digits are digits to str.isdigit, not to us
    ],
)
def test_clean_actor_id_rejects_anything_else(value: str | None) -> None:
    assert clean_actor_id(value) is None


def test_new_actor_id_has_the_browser_scripts_format() -> None:
    ids = {new_actor_id() for _ in range(100)}

    assert len(ids) == 100
    for actor_id in ids:
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", actor_id
        )
        assert clean_actor_id(actor_id) == actor_id


def test_actor_mint_mints_once_and_only_when_enabled() -> None:
    mint = ActorMint(enabled=True)
    first = mint.mint()

    assert first is not None
    assert mint.mint() == first
    assert mint.close() == first
    assert ActorMint(enabled=False).mint() is None


def test_actor_mint_mints_nothing_once_closed() -> None:
    mint = ActorMint(enabled=True)

    assert mint.close() is None
    assert mint.mint() is None
