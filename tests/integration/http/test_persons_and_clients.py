"""UC04 one step at a time: check the phone, create a person, make it a client, find, card, update."""

from __future__ import annotations

from urllib.parse import quote

from tests.integration.http.conftest import Api, assert_problem, new_phone


def _national(phone: str) -> str:
    """``+79111234567`` as a manager types it: ``8 (911) 123-45-67``."""
    digits = phone[2:]
    return f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"


def test_check_normalises_an_unknown_phone(api: Api) -> None:
    phone = new_phone()

    answer = api.post("/api/persons/check", {"phone": _national(phone)})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"phone": phone, "exists": False, "person_id": None, "client_id": None}


def test_check_finds_a_registered_client_and_audits_the_check(api: Api) -> None:
    registered = api.register().json()

    answer = api.post("/api/persons/check", {"phone": registered["phone"]})

    assert answer.json() == {
        "phone": registered["phone"],
        "exists": True,
        "person_id": registered["person_id"],
        "client_id": registered["client_id"],
    }
    assert api.scalar("SELECT count(*) FROM audit_events WHERE action = 'phone_checked'") == 2


def test_check_refuses_an_invalid_phone(api: Api) -> None:
    assert_problem(api.post("/api/persons/check", {"phone": "12-34"}), 422, "invalid_phone")


def test_a_person_is_created_alone_and_found_by_phone(api: Api) -> None:
    phone = new_phone()

    created = api.post("/api/persons", {"phone": _national(phone), "first_name": "Мария"})
    found = api.get(f"/api/persons?phone={quote(phone)}")
    missing = api.get(f"/api/persons?phone={quote(new_phone())}")

    assert created.status_code == 201, created.text
    person = created.json()
    assert (person["phone"], person["login"], person["first_name"]) == (phone, phone, "Мария")
    assert person["must_change_password"] is False
    assert found.json() == [person]
    assert missing.json() == []
    assert api.rows("clients") == 0


def test_a_person_with_a_taken_phone_is_409_person_exists_pointing_at_its_client(api: Api) -> None:
    registered = api.register().json()

    answer = api.post("/api/persons", {"phone": registered["phone"], "first_name": "Мария"})

    problem = assert_problem(answer, 409, "person_exists")
    assert problem["person_id"] == registered["person_id"]
    assert problem["client_id"] == registered["client_id"]
    assert problem["links"]["card"]["href"] == f"/api/clients/{registered['client_id']}"


def test_a_person_with_a_taken_login_is_409_login_taken(api: Api) -> None:
    api.post("/api/persons", {"phone": new_phone(), "first_name": "Мария", "login": "maria"})

    answer = api.post("/api/persons", {"phone": new_phone(), "first_name": "Мария", "login": "maria"})

    assert_problem(answer, 409, "login_taken")


def test_listing_persons_needs_the_phone_query_parameter(api: Api) -> None:
    problem = assert_problem(api.get("/api/persons"), 422, "validation_error")

    assert problem["errors"] == [{"field": "phone", "message": "Обязательный параметр", "source": "query"}]


def test_a_person_becomes_a_client_with_consents(api: Api) -> None:
    person = api.post("/api/persons", {"phone": new_phone(), "first_name": "Мария"}).json()

    answer = api.post("/api/clients", {"person_id": person["id"], "consents": {"personal_data": True}})

    assert answer.status_code == 201, answer.text
    client = answer.json()
    assert client["person_id"] == person["id"]
    assert client["source"] == "manager"
    assert client["registered_by"].startswith("manager:")
    assert answer.headers["location"] == f"/api/clients/{client['id']}"
    card = api.get(client["links"]["card"]["href"]).json()
    assert card["consents"] == {"personal_data": True}
    assert card["notifications"] == []


def test_a_second_client_of_a_person_is_409_client_exists(api: Api) -> None:
    registered = api.register().json()

    answer = api.post("/api/clients", {"person_id": registered["person_id"]})

    problem = assert_problem(answer, 409, "client_exists")
    assert problem["client_id"] == registered["client_id"]


def test_a_client_of_an_unknown_person_is_404(api: Api) -> None:
    problem = assert_problem(api.post("/api/clients", {"person_id": 999_999}), 404, "not_found")

    assert problem["detail"] == "Персона 999999 не найдена"


def test_clients_are_found_by_phone_with_their_cards(api: Api) -> None:
    registered = api.register().json()

    found = api.get("/api/clients", params={"phone": _national(registered["phone"])})
    missing = api.get("/api/clients", params={"phone": new_phone()})

    assert [card["id"] for card in found.json()] == [registered["client_id"]]
    assert missing.json() == []


def test_the_card_shows_the_person_consents_and_notifications(api: Api) -> None:
    registered = api.register(first_name="Олег", consents={"personal_data": True, "marketing": False}).json()
    api.drain()

    card = api.get(f"/api/clients/{registered['client_id']}").json()

    assert card["id"] == registered["client_id"]
    assert card["person_id"] == registered["person_id"]
    assert (card["phone"], card["first_name"], card["login"]) == (registered["phone"], "Олег", registered["phone"])
    assert card["consents"] == {"personal_data": True, "marketing": False}
    assert [n["status"] for n in card["notifications"]] == ["sent"]
    assert card["purchases"] == []
    assert card["links"]["update"] == {"href": f"/api/clients/{registered['client_id']}", "method": "PATCH"}


def test_an_unknown_client_card_is_404_not_found(api: Api) -> None:
    problem = assert_problem(api.get("/api/clients/424242"), 404, "not_found")

    assert problem["title"] == "Не найдено"


def test_an_update_changes_only_the_fields_sent(api: Api) -> None:
    registered = api.register(first_name="Олег").json()
    new = new_phone()

    answer = api.patch(
        f"/api/clients/{registered['client_id']}",
        {"phone": _national(new), "email": "Oleg@Example.COM", "consents": {"marketing": True}},
    )

    assert answer.status_code == 200, answer.text
    card = answer.json()
    assert (card["first_name"], card["phone"], card["login"]) == ("Олег", new, new)
    assert card["email"] == "Oleg@example.com"
    assert card["consents"]["marketing"] is True
    assert api.post("/api/persons/check", {"phone": registered["phone"]}).json()["exists"] is False


def test_an_update_to_a_phone_of_another_client_is_409_person_exists(api: Api) -> None:
    first = api.register().json()
    second = api.register().json()

    answer = api.patch(f"/api/clients/{second['client_id']}", {"phone": first["phone"]})

    problem = assert_problem(answer, 409, "person_exists")
    assert problem["client_id"] == first["client_id"]


def test_an_update_with_a_bad_email_is_422_and_changes_nothing(api: Api) -> None:
    registered = api.register(first_name="Олег").json()

    answer = api.patch(f"/api/clients/{registered['client_id']}", {"first_name": "Пётр", "email": "not-an-email"})

    problem = assert_problem(answer, 422, "validation_error")
    assert problem["errors"] == [{"field": "email", "message": "Некорректный email", "source": "body"}]
    assert api.get(f"/api/clients/{registered['client_id']}").json()["first_name"] == "Олег"


def test_an_update_of_an_unknown_client_is_404(api: Api) -> None:
    assert_problem(api.patch("/api/clients/424242", {"first_name": "Пётр"}), 404, "not_found")
