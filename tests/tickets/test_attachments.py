"""Attachments: limits, ownership, download as a file that never renders inline."""

from zabota.identity.models import Role


def test_upload_attach_download(app_client, make_agent, make_ticket, auth_headers, settings):
    ticket = make_ticket()
    h = auth_headers(make_agent(role=Role.ADMIN))
    up = app_client.post("/api/v1/attachments", headers=h,
                         files={"file": ("../../счёт.pdf", b"%PDF-1.4 data", "application/pdf")})
    assert up.status_code == 201, up.text
    assert up.json()["filename"] == "счёт.pdf"
    msg = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=h,
                          json={"text": "Счёт во вложении", "attachment_ids": [up.json()["id"]]})
    assert [a["id"] for a in msg.json()["attachments"]] == [up.json()["id"]]
    got = app_client.get(f"/api/v1/attachments/{up.json()['id']}", headers=h)
    assert got.content == b"%PDF-1.4 data"
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"
    again = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=h,
                            json={"text": "ещё раз", "attachment_ids": [up.json()["id"]]})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "attachment_ids"


def test_limits_on_size_and_type(app_client, make_agent, auth_headers, settings):
    h = {**auth_headers(make_agent(role=Role.ADMIN)), "Accept-Language": "en"}
    settings.max_attachment_bytes = 1024 * 1024
    big = app_client.post("/api/v1/attachments", headers=h,
                          files={"file": ("big.bin", b"x" * (1024 * 1024 + 1),
                                          "application/octet-stream")})
    assert big.status_code == 422
    assert big.json()["errors"] == [{"field": "file", "message": "The file is larger than 1 MB"}]
    html = app_client.post("/api/v1/attachments", headers=h,
                           files={"file": ("x.html", b"<script>", "text/html")})
    assert html.status_code == 422 and "text/html" in html.json()["detail"]
    empty = app_client.post("/api/v1/attachments", headers=h,
                            files={"file": ("e.txt", b"", "text/plain")})
    assert empty.status_code == 422


def test_html_is_sanitised_on_the_way_in(app_client, make_agent, make_ticket, auth_headers):
    ticket = make_ticket()
    h = auth_headers(make_agent(role=Role.ADMIN))
    body = ('<p onclick="x()">Привет<script>alert(1)</script><img src=x onerror=alert(1)>'
            '<a href="javascript:alert(1)">ссылка</a></p>')
    msg = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=h,
                          json={"html": body}).json()
    for dangerous in ("<script", "onerror", "onclick", "javascript:"):
        assert dangerous not in msg["body_html"]
    assert msg["body_text"].startswith("Привет")
