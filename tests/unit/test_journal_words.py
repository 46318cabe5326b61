"""The card's «Журнал» says every audit action and actor in the manager's words."""

from __future__ import annotations

import pytest

from barbershop_core.model import AuditAction
from barbershop_entrypoints.http.web.journal_words import ACTION_WORDS, action_words, actor_words


def test_every_audit_action_has_russian_words() -> None:
    assert set(ACTION_WORDS) == set(AuditAction)
    assert all(any("а" <= letter <= "я" for letter in words) for words in ACTION_WORDS.values())


def test_an_action_code_of_a_newer_release_is_shown_as_it_is() -> None:
    assert action_words("client_created") == "создан клиент"
    assert action_words("something_new") == "something_new"


@pytest.mark.parametrize(
    ("actor", "words"),
    [
        ("manager:7", "менеджер №7"),
        ("partner:3", "партнёр №3"),
        ("client:12", "клиент №12"),
        ("provider:sms", "провайдер sms"),
        ("system:worker", "система (worker)"),
        ("robot:1", "robot:1"),
        ("manager:", "manager:"),
        ("plain", "plain"),
    ],
)
def test_an_actor_label_in_words(actor: str, words: str) -> None:
    assert actor_words(actor) == words
