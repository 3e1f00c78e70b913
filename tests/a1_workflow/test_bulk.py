"""POST /leads/batch and POST /leads/import: per-item results, duplicates, bad input."""

from __future__ import annotations

import importlib

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from backend.main import create_app
from tests.support import make_settings

LEADS = "/api/01-workflow/leads"
BATCH = f"{LEADS}/batch"
IMPORT = f"{LEADS}/import"
models = importlib.import_module("assessments.01_workflow_automation.models")


def upload(client: TestClient, content: bytes, filename: str = "leads.csv"):
    return client.post(IMPORT, files={"file": (filename, content, "text/csv")})


def bulk_audit_entries(client: TestClient, step: str) -> list:
    with Session(client.app.state.engine) as session:
        statement = select(models.LeadAudit).where(models.LeadAudit.step == step)
        return list(session.exec(statement).all())


def test_batch_reports_each_item_and_one_bad_item_fails_alone(client: TestClient) -> None:
    items = [
        {"name": "Ana Silva", "email": "ana@acme.example.com", "message": "Quote for 40 seats?"},
        {"name": "No Message"},
        "not an object",
        {"message": "Billing charged us twice this month.", "phone": "(415) 555-0134"},
    ]

    response = client.post(BATCH, json=items)

    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["created"], body["duplicates"], body["failed"]) == (4, 2, 0, 2)
    statuses = [(item["index"], item["status"]) for item in body["results"]]
    assert statuses == [(0, "created"), (1, "failed"), (2, "failed"), (3, "created")]
    assert any("message" in error for error in body["results"][1]["errors"])
    created_id = body["results"][0]["lead"]["id"]
    assert client.get(f"{LEADS}/{created_id}").json()["fields"]["email"] == "ana@acme.example.com"
    assert client.get(LEADS).json()["count"] == 2


def test_batch_detects_duplicates_in_the_batch_and_against_stored_leads(
    client: TestClient,
) -> None:
    stored = client.post(LEADS, json={"message": "Demo please", "phone": "+1 212 555 0166"}).json()
    items = [
        {"email": "ana@acme.example.com", "message": "Quote for 40 seats?"},
        {"email": "ANA@acme.example.com", "message": "Following up on my quote"},
        {"phone": "(212) 555-0166", "message": "Call me back about the demo"},
    ]

    body = client.post(BATCH, json=items).json()

    first, same_email, same_phone = body["results"]
    assert first["status"] == "created"
    assert same_email["status"] == "duplicate"
    assert same_email["duplicate_of"] == first["lead"]["id"]
    assert same_phone["status"] == "duplicate"
    assert same_phone["duplicate_of"] == stored["id"]
    assert client.get(LEADS).json()["count"] == 2


def test_batch_writes_one_audit_entry_with_counts(client: TestClient) -> None:
    client.post(BATCH, json=[{"message": "Quote please"}, {}])

    (entry,) = bulk_audit_entries(client, "batch")

    assert entry.lead_id is None
    assert entry.output == {"total": 2, "created": 1, "duplicates": 0, "failed": 1}


def test_batch_over_the_cap_answers_413(client: TestClient) -> None:
    response = client.post(BATCH, json=[{"message": "hi"}] * 501)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert client.get(LEADS).json()["count"] == 0


def test_empty_or_non_list_batch_answers_422(client: TestClient) -> None:
    assert client.post(BATCH, json=[]).status_code == 422
    assert client.post(BATCH, json={"message": "not a list"}).status_code == 422


CSV_WITH_ALIASES = (
    b"Full Name,E-mail,Phone Number,Inquiry,Lead Source,Favourite Colour\n"
    b"Maria Gonzalez,maria@sunrise.example.com,(415) 555-0134,"
    b'"Could someone walk us through a demo? Budget is around $50k.",web_form,blue\n'
    b"Maria G.,MARIA@sunrise.example.com,,Following up on the demo request,email,red\n"
    b"Tom Hughes,tom@northpoint.example.com,+1 415-555-0134,We'd like to resell your product,,\n"
    b"Beth Kowalski,beth@cedar.example.com,608-555-0121,,chat,\n"
    b"Extra Values,x@example.com,,hello,web,green,unexpected\n"
    b"Sam Rivera,sam@example.com,not a phone,Interested in a demo for 3 stores,web_form,\n"
)


def test_import_maps_headers_and_reports_each_row(client: TestClient) -> None:
    response = upload(client, CSV_WITH_ALIASES)

    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == {
        "Full Name": "name",
        "E-mail": "email",
        "Phone Number": "phone",
        "Inquiry": "message",
        "Lead Source": "source",
    }
    assert body["ignored_columns"] == ["Favourite Colour"]
    rows = {row["row"]: row for row in body["rows"]}
    assert [rows[n]["status"] for n in range(2, 8)] == [
        "created",
        "duplicate",
        "duplicate",
        "failed",
        "failed",
        "created",
    ]
    maria = rows[2]["lead"]
    assert maria["fields"]["phone"] == "+14155550134"
    assert maria["fields"]["budget"] == 50000
    assert rows[3]["duplicate_of"] == maria["id"]
    assert rows[4]["duplicate_of"] == maria["id"]
    assert rows[5]["errors"] == ["message: the message is empty"]
    assert "values" in rows[6]["errors"][0]
    assert rows[7]["lead"]["fields"]["phone"] is None
    assert (body["total"], body["created"], body["duplicates"], body["failed"]) == (6, 2, 2, 2)


def test_import_detects_duplicates_of_stored_leads(client: TestClient) -> None:
    stored = client.post(
        LEADS, json={"email": "maria@sunrise.example.com", "message": "Demo please"}
    ).json()

    body = upload(client, b"email,message\nMaria@Sunrise.example.com,Any update on my demo?\n")

    (row,) = body.json()["rows"]
    assert row["status"] == "duplicate"
    assert row["duplicate_of"] == stored["id"]


def test_import_writes_one_audit_entry_with_counts(client: TestClient) -> None:
    body = upload(client, CSV_WITH_ALIASES, filename="crm-export.csv").json()

    (entry,) = bulk_audit_entries(client, "import")

    assert entry.input["filename"] == "crm-export.csv"
    assert entry.output == {
        "import_id": body["import_id"],
        "total": 6,
        "created": 2,
        "duplicates": 2,
        "failed": 2,
    }


def test_import_joins_first_and_last_name_and_reads_semicolons(client: TestClient) -> None:
    content = b"First Name;Last Name;Message\nAna;Silva;Quote for 40 seats please\n"

    (row,) = upload(client, content).json()["rows"]

    assert row["lead"]["fields"]["name"] == "Ana Silva"


def test_the_shipped_sample_csv_flags_its_two_duplicates_and_one_bad_row(
    client: TestClient,
) -> None:
    classifier = importlib.import_module("assessments.01_workflow_automation.classifier")
    content = (classifier.LEADS_DATA_DIR / "sample_leads.csv").read_bytes()

    body = upload(client, content).json()

    rows = {row["row"]: row for row in body["rows"]}
    assert (body["total"], body["created"], body["duplicates"], body["failed"]) == (15, 12, 2, 1)
    # Spreadsheet rows: Sam Rivera again by email, Greg Hollis again by phone, Karin no message.
    assert rows[8]["duplicate_of"] == rows[3]["lead"]["id"]
    assert rows[13]["duplicate_of"] == rows[10]["lead"]["id"]
    assert rows[12]["status"] == "failed"


def test_import_refuses_files_it_cannot_read(client: TestClient) -> None:
    cases = {
        b"": "empty_file",
        b"   \n  ": "empty_file",
        b"name,message\n": "empty_file",
        "name,message\nJosé,Olá, preciso de ajuda\n".encode("latin-1"): "invalid_encoding",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR": "invalid_csv",
        b"name,email\nAna,ana@example.com\n": "missing_message_column",
    }
    for content, code in cases.items():
        response = upload(client, content)

        assert response.status_code == 422, content
        assert response.json()["error"]["code"] == code
    assert client.get(LEADS).json()["count"] == 0


def test_import_without_a_file_answers_422(client: TestClient) -> None:
    assert client.post(IMPORT, data={"something": "else"}).status_code == 422


def test_import_over_the_size_limit_answers_413(tmp_path) -> None:
    settings = make_settings(tmp_path, MAX_UPLOAD_BYTES=1024)
    with TestClient(create_app(settings)) as client:
        content = b"message\n" + b"Need a quote for 40 seats\n" * 100

        response = upload(client, content)

        assert response.status_code == 413
        assert response.json()["error"]["code"] == "file_too_large"
