"""``GET /api/audit``: filters, masking, paging, and the reader's own access in the trail."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.http.conftest import Api, assert_problem, new_phone


def _digits(phone: str) -> str:
    return phone.lstrip("+")


def test_the_trail_of_a_client_answers_who_registered_them_and_what_was_sent(api: Api) -> None:
    phone = new_phone()
    client_id = api.register(phone).json()["client_id"]
    api.register(new_phone())  # another client's events stay out
    api.drain()

    answer = api.get("/api/audit", params={"client_id": client_id, "limit": 200})

    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    actions = {item["action"] for item in items}
    assert {"client_created", "registration_completed", "notification_sent"} <= actions
    assert {item["client_id"] for item in items} == {client_id}
    created = next(item for item in items if item["action"] == "client_created")
    assert created["actor"] == "manager:1"
    assert created["masked_phone"] == f"{phone[:5]}*****{phone[-2:]}"
    assert _digits(phone) not in answer.text
    assert [item["id"] for item in items] == sorted((item["id"] for item in items), reverse=True)


def test_a_phone_in_any_usual_form_finds_that_persons_events_and_an_unknown_one_none(api: Api) -> None:
    phone = new_phone()
    api.register(phone)
    api.register(new_phone())
    national = "8" + phone[2:]

    found = api.get("/api/audit", params={"phone": national}).json()["items"]
    unknown = api.get("/api/audit", params={"phone": new_phone()}).json()["items"]

    assert found
    assert {item["masked_phone"] for item in found if item["masked_phone"]} == {f"{phone[:5]}*****{phone[-2:]}"}
    assert unknown == []


def test_action_and_period_narrow_the_events(api: Api) -> None:
    api.register(new_phone())
    later = api.clock.now() + timedelta(hours=1)
    api.clock.advance(timedelta(hours=2))
    api.register(new_phone())

    recent = api.get("/api/audit", params={"action": "client_created", "since": later.isoformat()}).json()["items"]
    earlier = api.get("/api/audit", params={"action": "client_created", "until": later.isoformat()}).json()["items"]

    assert len(recent) == 1
    assert len(earlier) == 1
    assert recent[0]["id"] > earlier[0]["id"]


def test_pages_follow_the_cursor_without_gaps_or_repeats(api: Api) -> None:
    for _ in range(3):
        api.register(new_phone())
    everything = [item["id"] for item in api.get("/api/audit", params={"action": "client_created"}).json()["items"]]

    first = api.get("/api/audit", params={"action": "client_created", "limit": 2}).json()
    second = api.get(
        "/api/audit", params={"action": "client_created", "limit": 2, "before_id": first["next_before_id"]}
    ).json()

    assert [item["id"] for item in first["items"] + second["items"]] == everything
    assert len(everything) == 3
    assert second["next_before_id"] is None


def test_reading_the_trail_is_itself_recorded_with_the_phone_masked(api: Api) -> None:
    phone = new_phone()
    api.register(phone)

    api.get("/api/audit", params={"phone": phone, "action": "client_created"})
    viewed = api.get("/api/audit", params={"action": "audit_viewed"}).json()["items"]

    assert viewed[-1]["actor"] == "manager:1"
    assert viewed[-1]["details"] == {"phone": f"{phone[:5]}*****{phone[-2:]}", "action": "client_created"}
    assert _digits(phone) not in str(viewed)


def test_the_trail_is_for_managers_only(api: Api) -> None:
    answer = api.client.get("/api/audit")

    assert_problem(answer, 401, "unauthorized")


def test_an_unknown_action_or_a_bad_phone_is_refused(api: Api) -> None:
    assert_problem(api.get("/api/audit", params={"action": "nonsense"}), 422, "validation_error")
    assert_problem(api.get("/api/audit", params={"phone": "12"}), 422, "invalid_phone")
