"""Files from the widget: uploaded over HTTP within the attachment limits, then carried by a
message; every refusal is a problem+json the widget (on another site) can read."""

from __future__ import annotations

import sqlalchemy as sa

from tests.channels.chat.conftest import hello, send
from zabota.tickets.models import Attachment, Message

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(client, token, name="screen.png", data=PNG, kind="image/png", lang="en"):
    return client.post("/chat/upload", data={"token": token, "lang": lang},
                       files={"file": (name, data, kind)})


def test_a_file_goes_with_the_message_and_back_to_the_visitor(app_client, session, desk):
    with app_client.websocket_connect("/chat/ws") as ws:
        token = hello(ws, team=str(desk.team.id))["token"]
        uploaded = upload(app_client, token)
        assert uploaded.status_code == 201
        assert uploaded.headers["access-control-allow-origin"] == "*"
        assert uploaded.json()["name"] == "screen.png"
        ack = send(ws, "f1", "Вот скриншот", files=[uploaded.json()["upload"]])
        again = send(ws, "f1", "Вот скриншот", files=[uploaded.json()["upload"]])
    [shown] = ack["message"]["files"]
    assert again["message"]["id"] == ack["message"]["id"]
    message = session.get(Message, ack["message"]["id"])
    assert [(a.filename, a.size) for a in message.attachments] == [("screen.png", len(PNG))]
    assert session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 1
    download = app_client.get(shown["url"])
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment")
    assert app_client.get(shown["url"][:-3] + "xyz").status_code == 404


def test_uploads_outside_the_limits_are_refused_readably(app_client, settings, desk):
    settings.max_attachment_bytes = 1024 * 1024
    with app_client.websocket_connect("/chat/ws") as ws:
        token = hello(ws, team=str(desk.team.id))["token"]
    cases = [
        (upload(app_client, "v1.forged"), 401, "unknown_visitor"),
        (upload(app_client, token, data=b"x" * (1024 * 1024 + 1)), 422, "attachment_rejected"),
        (upload(app_client, token, name="run.exe", kind="application/x-msdownload"), 422,
         "attachment_rejected"),
        (upload(app_client, token, data=b""), 422, "attachment_rejected"),
        (app_client.post("/chat/upload", data={"token": token},
                         files={"other": ("a.txt", b"a", "text/plain")}), 400, "bad_request"),
        (app_client.post("/chat/upload", content=b"{}",
                         headers={"content-type": "application/json"}), 400, "bad_request"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.json()["code"] == code and response.json()["detail"]
    assert "larger than 1 MB" in cases[1][0].json()["detail"]
    assert app_client.options("/chat/upload").status_code == 204


def test_a_refused_upload_speaks_russian_when_the_widget_does(app_client, desk):
    with app_client.websocket_connect("/chat/ws") as ws:
        token = hello(ws, team=str(desk.team.id))["token"]
    response = upload(app_client, token, data=b"", lang="ru")
    assert response.json()["title"] == "Этот файл нельзя прикрепить"


def test_a_message_with_a_foreign_or_stale_upload_is_refused_and_not_stored(app_client, session,
                                                                           desk):
    with app_client.websocket_connect("/chat/ws") as other:
        other_token = hello(other, team=str(desk.team.id))["token"]
    someone_elses = upload(app_client, other_token).json()["upload"]
    with app_client.websocket_connect("/chat/ws") as ws:
        hello(ws, team=str(desk.team.id))
        refused = send(ws, "u1", "Файл", files=[someone_elses])
        forged = send(ws, "u2", "Файл", files=["garbage"])
        ok = send(ws, "u3", "Без файла")
    assert (refused["code"], refused["id"], refused["retry"]) == ("upload_expired", "u1", False)
    assert forged["code"] == "upload_expired"
    assert ok["type"] == "ack"
    texts = session.scalars(sa.select(Message.body_text)).all()
    assert texts == ["Без файла"]
