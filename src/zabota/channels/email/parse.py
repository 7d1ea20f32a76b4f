"""Raw RFC 5322 bytes → an `Inbound`, or the reason the message must be ignored.

Real mail is messy: bodies in koi8-r labelled windows-1251, raw 8-bit Subject lines,
RFC 2047 words inside RFC 2231 file names, bounces that look like letters. The parser reads
with `policy.default`, falls back to `compat32` where the modern parser chokes, and never
guesses silently: what it could not read raises `MalformedEmail` (the caller quarantines it).
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.utils
import enum
import functools
import hashlib
import html as html_lib
import mimetypes
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.policy import EmailPolicy
from typing import Any

import nh3
from charset_normalizer import from_bytes

from zabota.channels.inbound import Inbound, InboundFile
from zabota.identity.models import IdentityKind
from zabota.tickets.models import Channel

MAX_ID = 255  # messages.external_id
SYNTHETIC_DOMAIN = "message-id.zabota.invalid"


class MalformedEmail(ValueError):
    """The bytes are not a message we can take in (no sender, not mail at all)."""


class IgnoreCode(enum.StrEnum):
    BOUNCE = "bounce"  # delivery status notifications, mailer-daemon, list robots
    AUTO_REPLY = "auto_reply"  # vacation and other automatic answers (RFC 3834)
    BULK = "bulk"  # Precedence: bulk / junk / list
    REPORT = "report"  # read receipts, abuse feedback (multipart/report other than DSN)
    LOOP = "loop"  # our own mail coming back
    MALFORMED = "malformed"  # quarantined for an admin


@dataclass(frozen=True)
class IgnoredReason:
    """The message creates no ticket and triggers no answer, for this reason."""

    code: IgnoreCode
    detail: str
    external_id: str
    # A bounce: the Message-IDs it reports on (one of them ours, if it is about our reply)
    # and what the mail system said about the recipient.
    bounced: tuple[str, ...] = ()
    failure: str = ""


# --- message ids ---------------------------------------------------------------------------

_ANGLED_ID = re.compile(r"<([^<>\s]+)>")


def normalize_message_id(value: str) -> str | None:
    """`<local@domain>`, the same for a Message-ID and for a reference to it; ids longer
    than the column are replaced by a hash of themselves (so references still match)."""
    value = value.strip()
    if not value:
        return None
    match = _ANGLED_ID.search(value)
    core = match.group(1) if match else value.strip("<> \t\r\n").split()[0]
    if not core:
        return None
    message_id = f"<{core}>"
    if len(message_id) > MAX_ID:
        message_id = f"<{hashlib.sha256(core.encode('utf-8', 'surrogateescape')).hexdigest()}"\
                     f"@long.{SYNTHETIC_DOMAIN}>"
    return message_id


def message_ids_in(value: str | None) -> list[str]:
    """Every id of an In-Reply-To or References header, in order, without repeats."""
    found: list[str] = []
    for core in _ANGLED_ID.findall(value or ""):
        message_id = normalize_message_id(f"<{core}>")
        if message_id and message_id not in found:
            found.append(message_id)
    return found


def synthetic_message_id(raw: bytes) -> str:
    """A stable id for a message without one: the same bytes always give the same id, whether
    they came over SMTP (CRLF) or from a file (LF)."""
    digest = hashlib.sha256(raw.replace(b"\r\n", b"\n").strip()).hexdigest()[:40]
    return f"<{digest}@{SYNTHETIC_DOMAIN}>"


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID_LINE = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


def external_id_of(raw: bytes) -> str:
    """The message's external id without parsing all of it (for failure bookkeeping)."""
    raw = _strip_envelope(raw)
    end = _HEADER_END.search(raw)
    head = raw[:end.start()] if end else raw
    match = _MESSAGE_ID_LINE.search(head)
    if match:
        found = normalize_message_id(match.group(1).decode("ascii", "replace"))
        if found:
            return found
    return synthetic_message_id(raw)


# --- charsets ------------------------------------------------------------------------------

_CHARSET_ALIASES = {
    "gb2312": "gbk", "gb_2312-80": "gbk", "ks_c_5601-1987": "cp949", "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874", "unicode-1-1-utf-7": "utf-7", "x-mac-cyrillic": "mac-cyrillic",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "ascii",
    "ascii": "ascii", "x-user-defined": "cp1252", "cp-850": "cp850", "utf8": "utf-8",
    "136": "big5", "shift-jis": "shift_jis", "x-sjis": "shift_jis",
}
# Charsets whose text is often something else in Russian mail: checked for mojibake.
_SUSPECT = frozenset(codecs.lookup(name).name for name in (
    "ascii", "koi8-r", "koi8-u", "cp1251", "cp866", "iso8859-5", "cp1252", "latin-1",
    "iso8859-15", "mac-cyrillic"))
_CYRILLIC_GUESSES = ("utf-8", "cp1251", "koi8-r")
_CYRILLIC = re.compile(r"[а-яё]", re.I)
_LATIN_HIGH = re.compile(r"[À-ÿ]")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _looks_right(text: str) -> bool:
    """Russian written in its real charset is mostly lower case; cp1251 read as koi8-r (or the
    reverse, or UTF-8 read as either) comes out mostly upper case or as accented Latin."""
    letters = _CYRILLIC.findall(text)
    if len(letters) >= 12 and sum(ch.islower() for ch in letters) < 0.5 * len(letters):
        return False
    latin = _LATIN_HIGH.findall(text)
    return not (len(latin) >= 12 and len(latin) > 0.3 * sum(ch.isalpha() for ch in text))


def _score(text: str) -> float:
    letters: list[str] = _CYRILLIC.findall(text)
    if not letters:
        return 0.0
    return sum(ch.islower() for ch in letters) / len(letters) + min(len(letters), 200) / 1000


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text of a body or header in its declared charset, or in the charset it really is:
    Russian mail is often labelled koi8-r and written in windows-1251, or sent as UTF-8
    under any label."""
    codec = _codec(charset)
    if codec is not None:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
        else:
            if codec not in _SUSPECT or _looks_right(text):
                return text
    try:
        return data.decode("utf-8")  # valid UTF-8 with 8-bit bytes is never an accident
    except UnicodeDecodeError:
        mostly = data.decode("utf-8", "replace")
        # A cut-off last character or one stray byte: still UTF-8 (a legacy 8-bit text
        # yields a replacement for nearly every non-ASCII byte).
        if mostly.count("\ufffd") <= 0.1 * sum(byte > 0x7F for byte in data):
            return mostly
    if codec is not None and codec not in _SUSPECT:
        return data.decode(codec, "replace")
    best: tuple[float, str] | None = None
    for guess in _CYRILLIC_GUESSES[1:]:
        text = data.decode(guess, "replace")
        score = _score(text) - text.count("\ufffd")
        if best is None or score > best[0]:
            best = (score, text)
    return best[1] if best is not None else data.decode("utf-8", "replace")


# --- headers -------------------------------------------------------------------------------


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return None


def _has_8bit(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def decode_raw_header(data: bytes, charset: str | None) -> str:
    """Raw 8-bit header bytes (no RFC 2047): UTF-8 if they are; else the declared charset
    unless it is one Russian mail mislabels; else whichever of it, windows-1251 and koi8-r
    reads as real text. A header is too short for `decode_bytes`' case statistics: a
    windows-1251 "Возврат" came out as Latin-1 or koi8-r mojibake."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = _codec(charset)
    if codec is not None and codec not in _SUSPECT:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    candidates = list(dict.fromkeys([*([codec] if codec in _SUSPECT else []), "cp1251",
                                     "koi8-r"]))
    best = from_bytes(data, cp_isolation=candidates).best()
    return str(best) if best is not None else decode_bytes(data, charset)


def header_text(msg: Message, name: str, *, charset: str | None = None) -> str | None:
    """A header's text: RFC 2047 words decoded, raw 8-bit bytes read as `decode_raw_header`
    does with the body's charset as the declared one, folding undone."""
    raw = _raw_header(msg, name.lower())
    if raw is None:
        return None
    if _has_8bit(raw):
        raw = decode_raw_header(raw.encode("utf-8", "surrogateescape"), charset)
    return _decode_words(re.sub(r"\r?\n[ \t]+", " ", raw)).replace("\x00", "").strip()


def _decode_words(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        parts = email.header.decode_header(value)
    except (ValueError, LookupError, AssertionError):
        return value
    # decode_header keeps the spaces of plain chunks and drops those between encoded words,
    # as RFC 2047 §6.2 wants: plain concatenation is right.
    return "".join(chunk if isinstance(chunk, str) else decode_bytes(chunk, chunk_charset
                                                                     or "ascii")
                   for chunk, chunk_charset in parts)


@dataclass(frozen=True)
class Address:
    name: str
    email: str


_ADDR_SPEC = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def addresses(value: str | None) -> list[Address]:
    if not value:
        return []
    found: list[Address] = []
    for name, addr in email.utils.getaddresses([value]):
        addr = addr.strip()
        if "@" not in addr or not _ADDR_SPEC.fullmatch(addr):
            match = _ADDR_SPEC.search(addr) or None
            if match is None:
                continue
            addr = match.group(0)
        found.append(Address(name.strip().strip('"').strip(), addr.lower()))
    if not found:  # getaddresses gives up on some broken lists: take what looks like one
        found = [Address("", m.lower()) for m in _ADDR_SPEC.findall(value)]
    return found


# --- bodies and attachments ----------------------------------------------------------------


@dataclass
class _Parts:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    files: list[InboundFile] = field(default_factory=list)
    charset: str | None = None


_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", re.I)


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError, AssertionError):
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: Message, parts: _Parts) -> str:
    data = _payload_bytes(part)
    charset = part.get_content_charset()
    if charset is None and part.get_content_type() == "text/html":
        meta = _META_CHARSET.search(data[:4096])
        charset = meta.group(1).decode("ascii") if meta else None
    if parts.charset is None and charset:
        parts.charset = charset.lower()
    # NUL is valid in 8-bit MIME and refused by PostgreSQL text columns.
    return decode_bytes(data, charset).replace("\x00", "")


_RAW_NAME = re.compile(r"\b(?:file)?name=\s*(\"[^\"]*\"|[^;\r\n]+)", re.I)


def _filename(part: Message, fallback_charset: str | None) -> str | None:
    try:
        name = part.get_filename()
    except (ValueError, TypeError, LookupError, AssertionError, IndexError):
        name = None
    if name is None:
        try:
            name = part.get_param("name")  # type: ignore[assignment]
        except (ValueError, TypeError, LookupError, AssertionError, IndexError):
            name = None
        if isinstance(name, tuple):  # an RFC 2231 triple compat32 left for us
            name = email.utils.collapse_rfc2231_value(name)
    if not name:  # `filename==?utf-8?B?…?=`, unquoted: the header parser gives up on it
        for header in ("content-disposition", "content-type"):
            match = _RAW_NAME.search(_raw_header(part, header) or "")
            if match:
                name = match.group(1).strip().strip('"')
                break
    if not name:
        return None
    name = str(name)
    if _has_8bit(name):
        name = decode_bytes(name.encode("utf-8", "surrogateescape"), fallback_charset)
    # RFC 2047 inside a parameter is forbidden and everywhere (Outlook, Thunderbird, 1C).
    name = _decode_words(name).replace("\ufffd", "_").strip()
    return name or None


def _guess_name(part: Message, index: int) -> str:
    ctype = part.get_content_type()
    extension = ".eml" if ctype.startswith("message/") else (
        mimetypes.guess_extension(ctype) or ".bin")
    return f"attachment-{index}{extension}"


def _inner_message(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str) and payload.strip():
        return email.message_from_bytes(_payload_bytes(part), policy=policy.compat32)
    return None


def _message_bytes(inner: Message | None, part: Message) -> bytes:
    if inner is not None:
        try:
            return inner.as_bytes(policy=policy.compat32)
        except (ValueError, TypeError, LookupError, UnicodeError, AttributeError):
            pass
    return _payload_bytes(part)


def _collect(part: Message, parts: _Parts, fallback_charset: str | None) -> None:
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global"):
        inner = _inner_message(part)
        subject = header_text(inner, "subject") if inner is not None else None
        enclosed = _filename(part, fallback_charset) or (
            f"{_safe_stem(subject)}.eml" if subject else _guess_name(part, len(parts.files) + 1))
        data = _message_bytes(inner, part)
        if data:
            parts.files.append(InboundFile(enclosed, data, "message/rfc822"))
        return
    if part.is_multipart():
        payload = part.get_payload()
        children = [p for p in payload if isinstance(p, Message)] if isinstance(
            payload, list) else []
        if ctype == "multipart/alternative":
            _collect_alternative(children, parts, fallback_charset)
            return
        for child in children:
            _collect(child, parts, fallback_charset)
        return
    disposition = _disposition(part)
    name = _filename(part, fallback_charset)
    is_body_text = ctype in ("text/plain", "text/html") and disposition != "attachment" and (
        name is None or (disposition is None and ctype == "text/html"))
    if is_body_text:
        (parts.texts if ctype == "text/plain" else parts.htmls).append(_part_text(part, parts))
        return
    if ctype in ("message/delivery-status", "text/rfc822-headers", "application/pgp-signature",
                 "application/pkcs7-signature", "application/x-pkcs7-signature"):
        return  # machinery, not content
    data = _payload_bytes(part)
    if not data:
        return
    content_id = (part.get("Content-ID") or "").strip().strip("<>") or None
    inline = disposition == "inline" or (disposition is None and content_id is not None)
    parts.files.append(InboundFile(name or _guess_name(part, len(parts.files) + 1), data,
                                   ctype, inline=inline, content_id=content_id))


def _collect_alternative(children: list[Message], parts: _Parts,
                         fallback_charset: str | None) -> None:
    """The plain and the richest HTML version of one body (RFC 2046: the last is the best)."""
    found = _Parts(charset=parts.charset)
    for child in children:
        _collect(child, found, fallback_charset)
    if found.texts:
        parts.texts.append(found.texts[0])
    if found.htmls:
        parts.htmls.append(found.htmls[-1])
    parts.files.extend(found.files)
    parts.charset = parts.charset or found.charset


def _disposition(part: Message) -> str | None:
    value = part.get("Content-Disposition")
    if value is None:
        return None
    kind = str(value).split(";", 1)[0].strip().lower()
    return kind if kind in ("inline", "attachment") else None


def _safe_stem(subject: str) -> str:
    stem = re.sub(r"[\x00-\x1f/\\:*?\"<>|]+", "_", subject).strip(". ")[:80]
    return stem or "message"


# --- HTML → text ---------------------------------------------------------------------------

_DROP_BLOCKS = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>", re.I | re.S)
_LINE_BREAK = re.compile(r"<br\s*/?>", re.I)
_BLOCK_END = re.compile(r"</(p|div|li|tr|h[1-6]|blockquote|table|pre)\s*>", re.I)


def html_to_text(value: str) -> str:
    value = _DROP_BLOCKS.sub("", value)
    value = _LINE_BREAK.sub("\n", value)
    value = _BLOCK_END.sub(lambda m: m.group(0) + "\n", value)
    text = html_lib.unescape(nh3.clean(value, tags=set()))
    lines = [line.rstrip() for line in text.replace("\xa0", " ").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- quoted replies and signatures ---------------------------------------------------------

_ATTRIBUTION_END = re.compile(
    r"(wrote|writes|пишет|написал|написала|написали|написал\(а\)|schrieb|a écrit|escribió)"
    r"\s*:\s*$", re.I)
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(original message|исходное сообщение|оригинальное сообщение|"
    r"ursprüngliche nachricht|message d'origine|reply message)\s*-{2,}\s*$", re.I)
_FORWARD = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|пересылаемое сообщение|перенаправленное сообщение|"
    r"переадресованное сообщение|weitergeleitete nachricht)\s*-*|begin forwarded message:|"
    r"начало переадресованного сообщения:)\s*$", re.I)
_FROM_FIELD = re.compile(r"^[*\s]*(from|от|von|de|da)[*\s]*:\s*\S", re.I)
_HEADER_FIELD = re.compile(
    r"^[*\s]*(sent|date|to|cc|subject|отправлено|дата|кому|копия|тема|gesendet|datum|an|"
    r"betreff|envoyé|objet|enviado|asunto)[*\s]*:", re.I)
_UNDERSCORES = re.compile(r"^\s*_{8,}\s*$")
_SIGNATURE = re.compile(r"^--\s*$")
_SIGN_OFF = re.compile(
    r"^(sent from (my |a |an )?[\w.\- ]{2,40}|sent (via|with) [\w.\- ]{2,30}|"
    r"get outlook for [\w ]{2,20}|отправлено (с|из|через) [\w.\- ]{2,40}|"
    r"sent from (mail|outlook) for windows( 10)?)\.?$", re.I)
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|пересл|forward|переслано|tr|wg)\s*:", re.I)


def _continues_attribution(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.endswith((".", "!", "?")) and (
        bool(re.search(r"\d|@|<", stripped)) or stripped.lower().startswith(("on ", "в ")))


def _attributions(lines: list[str], limit: int) -> dict[int, int]:
    """Start line → end line (exclusive) of each "On … wrote:" / "… пишет:" attribution,
    which clients wrap over up to three lines."""
    found: dict[int, int] = {}
    for end in range(limit):
        line = lines[end].strip()
        generic = (line.endswith(":") and "@" in line and re.search(r"\d", line) is not None)
        if not (_ATTRIBUTION_END.search(line) or generic) or len(line) > 300:
            continue
        start = end
        while start > end - 2 and start > 0 and _continues_attribution(lines[start - 1]):
            start -= 1
        joined = " ".join(part.strip() for part in lines[start:end + 1])
        if re.search(r"\d|@|<", joined) or joined.lower().startswith("on "):
            found.setdefault(start, end + 1)
    return found


def _separator_at(lines: list[str], index: int, limit: int) -> bool:
    """An unprefixed quote starts here: "-----Original Message-----", Outlook's "From: …
    Sent: …" block (Russian "От: … Отправлено: …"), or the underscore line above it."""
    line = lines[index]
    if _ORIGINAL.match(line):
        return True
    if _UNDERSCORES.match(line):
        following = next((lines[i] for i in range(index + 1, min(index + 3, limit))
                          if lines[i].strip()), "")
        return bool(_FROM_FIELD.match(following))
    if _FROM_FIELD.match(line):
        nearby = [lines[i] for i in range(index + 1, min(index + 6, limit)) if lines[i].strip()]
        return bool(nearby) and bool(_HEADER_FIELD.match(nearby[0])) and sum(
            bool(_HEADER_FIELD.match(other)) for other in nearby[:4]) >= 2
    return False


def _next_filled(lines: list[str], index: int, limit: int) -> int:
    while index < limit and not lines[index].strip():
        index += 1
    return index


def split_reply(text: str, *, forward: bool = False) -> tuple[str, bool]:
    """The new text of a reply, and whether a quoted earlier message was cut off.

    Removes "On … wrote:" / "… пишет:" attributions with their `>` quote, and cuts at
    "-----Original Message-----", Outlook's header block ("From: … Sent: …", "От: …
    Отправлено: …"); then a "-- " signature and a "Sent from my iPhone" / "Отправлено с
    iPhone" sign-off. A forwarded message is content, not a quote: it is kept whole.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if forward:
        return text.strip(), False
    limit = next((i for i, line in enumerate(lines) if _FORWARD.match(line)), len(lines))
    attributions = _attributions(lines, limit)
    kept: list[str] = []
    quoted = False
    index = 0
    cut = False
    while index < limit:
        if index in attributions:
            after = _next_filled(lines, attributions[index], limit)
            if after < limit and lines[after].lstrip().startswith(">"):
                index, quoted = attributions[index], True
                continue
            cut = True
            break
        if _separator_at(lines, index, limit):
            cut = True
            break
        if lines[index].lstrip().startswith(">"):
            quoted = True
        else:
            kept.append(lines[index])
        index += 1
    if not cut:
        kept.extend(lines[limit:])
    quoted = quoted or cut
    kept = _without_signature(kept, keep_from=limit if not cut else None)
    result = "\n".join(kept).strip()
    if not result:  # nothing but a quote: keep it rather than lose the message
        return text.strip(), False
    return result, quoted


def _without_signature(lines: list[str], *, keep_from: int | None) -> list[str]:
    # Only the reply's own part: a forwarded message keeps its signatures.
    own = lines if keep_from is None else lines[:keep_from]
    rest = [] if keep_from is None else lines[keep_from:]
    if rest:
        return lines
    for index in range(len(own) - 1, 0, -1):
        if _SIGNATURE.match(own[index]):
            after = [line for line in own[index + 1:] if line.strip()]
            if len(after) <= 12 and any(line.strip() for line in own[:index]):
                own = own[:index]
            break
    while own and not own[-1].strip():
        own.pop()
    if len(own) > 1 and _SIGN_OFF.match(own[-1].strip()):
        own = own[:-1]
    return own + rest


def trim_reply(text: str) -> str:
    """Only what the sender wrote this time (see `split_reply`)."""
    return split_reply(text)[0]


_HTML_QUOTE = re.compile(
    r"<div[^>]*class=[\"']?[^\"'>]*\b(gmail_quote|moz-cite-prefix|yahoo_quoted|OutlookMessageHeader)"
    r"|<blockquote[^>]*type=[\"']?cite"
    r"|<div[^>]*id=[\"']?(divRplyFwdMsg|appendonsend|mail-editor-reference-message-container)"
    r"|<hr[^>]*id=[\"']?(zwchr|stopSpelling)"
    r"|<div[^>]*style=[\"'][^\"'>]*border-top:\s*solid\s*#(E1E1E1|B5C4DF)"
    r"|<blockquote\b", re.I)


def cut_html_quote(value: str) -> str | None:
    """The HTML before its quoted part (Gmail, Outlook, Apple Mail, Thunderbird, Yahoo,
    Yandex, Mail.ru markers), or None if no quote marker is found."""
    match = _HTML_QUOTE.search(value)
    if match is None:
        return None
    head = value[:match.start()]
    return head if html_to_text(head) else None


# --- classification ------------------------------------------------------------------------

_ROBOTS = frozenset({"mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster",
                     "mail-daemon", "maildaemon"})
_ROBOT_NAME = re.compile(r"^\s*\"?(mailer-daemon|postmaster|mail delivery (subsystem|system))\b",
                         re.I)
_LIST_ROBOT = re.compile(r"-(admin|owner|request|bounces?|errors)$")
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(\*+\s*)?(undeliver(able|ed)|delivery (status notification|failure|has failed|"
    r"notification)|mail delivery (failed|failure|system)|returned mail|failure notice|"
    r"mail system error|message delivery has failed|delivery failure|non[- ]delivery|"
    r"\[postmaster\]|недоставленное сообщение|не удалось доставить|"
    r"сообщение не доставлено|ваше сообщение не доставлено|message you sent blocked)", re.I)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ _-]?(reply|response|responder|respons|answer)|autoreply|"
    r"out of (the )?office|автоответ|автоматический ответ|вне офиса|нет на месте|"
    r"отпуск|в отпуске|abwesenheitsnotiz|réponse automatique|respuesta automática)", re.I)
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponse", "x-auto-reply",
                 "x-autogenerated", "x-mailru-autoreply")


def classify(msg: Message, *, sender: str | None, subject: str,
             own_addresses: Collection[str] = ()) -> tuple[IgnoreCode, str] | None:
    """Why this message must not become a ticket nor be answered, or None."""
    # Raw values: the modern header classes parse every field they are asked for, which
    # costs more than the rest of the message for a plain letter.
    headers: dict[str, str] = {}
    for key, value in msg.raw_items():
        headers.setdefault(key.lower(), str(value))

    def get(name: str) -> str | None:
        return headers.get(name.lower())

    ctype = msg.get_content_type()
    report_type = str(msg.get_param("report-type") or "").lower()
    local = (sender or "").partition("@")[0]
    if sender and sender in own_addresses:
        return IgnoreCode.LOOP, "sent from our own address"
    if ctype == "message/delivery-status" or (ctype == "multipart/report"
                                              and report_type == "delivery-status"):
        return IgnoreCode.BOUNCE, "delivery status notification (RFC 3464)"
    if ctype == "multipart/report":
        return IgnoreCode.REPORT, f"report ({report_type or 'unknown type'})"
    if local in _ROBOTS or _ROBOT_NAME.search(str(get("From") or "")):
        return IgnoreCode.BOUNCE, f"sent by {local or 'a mail system'}"
    if get("X-Failed-Recipients") is not None:
        return IgnoreCode.BOUNCE, "X-Failed-Recipients header"
    is_list = any(get(name) is not None for name in ("List-Id", "Mailing-List",
                                                         "X-MLServer", "X-ML-Server"))
    if is_list and _LIST_ROBOT.search(local):
        return IgnoreCode.BOUNCE, "mailing list robot"
    if _BOUNCE_SUBJECT.search(subject):
        return IgnoreCode.BOUNCE, "subject of a non-delivery report"
    auto_submitted = str(get("Auto-Submitted") or "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return IgnoreCode.AUTO_REPLY, f"Auto-Submitted: {auto_submitted[:40]}"
    for header in _AUTO_HEADERS:
        flag = get(header)
        if flag is not None and flag.strip().lower() not in ("no", "false", "0"):
            return IgnoreCode.AUTO_REPLY, f"{header} header"
    precedence = str(get("Precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return IgnoreCode.AUTO_REPLY, "Precedence: auto_reply"
    if precedence in ("bulk", "junk", "list"):
        return IgnoreCode.BULK, f"Precedence: {precedence}"
    if _AUTO_SUBJECT.search(subject):
        return IgnoreCode.AUTO_REPLY, "subject of an automatic reply"
    return_path = get("Return-Path")
    if return_path is not None and str(return_path).strip() in ("<>", ""):
        # RFC 3834 §3.3 / RFC 5321 §4.5.5: notifications are sent with a null reverse-path.
        return IgnoreCode.AUTO_REPLY, "null return path"
    return None


def bounce_details(msg: Message) -> tuple[list[str], str]:
    """What a non-delivery report is about: the Message-IDs it names (of the returned message
    or its headers, RFC 3462, and its own In-Reply-To / References) and the recipient's
    status line from the delivery-status part (RFC 3464), e.g. "c@x.org: 5.1.1 smtp; 550
    User unknown"."""
    ids = message_ids_in(header_text(msg, "in-reply-to")) + message_ids_in(
        header_text(msg, "references"))
    failures: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers"):
            returned = _returned_headers(part)
            if returned is not None:
                ids += message_ids_in(str(returned.get("Message-ID") or ""))
        elif ctype == "message/delivery-status":
            for block in _delivery_blocks(part):
                status = str(block.get("Status") or "").strip()
                if not status or status.startswith("2"):
                    continue  # delivered, or the per-message block
                recipient = str(block.get("Final-Recipient") or block.get(
                    "Original-Recipient") or "").partition(";")[2].strip()
                said = " ".join(str(block.get("Diagnostic-Code") or "").split())
                failures.append(" ".join(p for p in (f"{recipient}:" if recipient else "",
                                                     status, said) if p))
    return list(dict.fromkeys(ids)), "; ".join(failures)[:500]


def _returned_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload[0] if payload and isinstance(payload[0], Message) else None
    text = part.get_payload(decode=True)
    if not isinstance(text, bytes):
        return None
    return email.message_from_bytes(text.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0],
                                    policy=policy.compat32)


def _delivery_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = part.get_payload(decode=True)
    if not isinstance(text, bytes):
        return []
    return [email.message_from_bytes(block, policy=policy.compat32)
            for block in re.split(rb"\r?\n\r?\n", text) if block.strip()]


# --- the whole message ---------------------------------------------------------------------

_ENVELOPE_FROM = re.compile(rb"^From [^\r\n]*\r?\n")


def _strip_envelope(raw: bytes) -> bytes:
    """Leading blank lines and an mbox "From " line are not part of the message."""
    raw = raw.lstrip(b" \t\r\n")
    return _ENVELOPE_FROM.sub(b"", raw, count=1)


class _ParseHeadersOnce(EmailPolicy):
    """`policy.default`, except that a header value is parsed once. The standard policy
    parses the raw value again on every `Message.get`, and reading one part asks for its
    Content-Type a dozen times (type, charset, file name, disposition): that re-parsing
    was a fifth of the time spent on a message."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):  # already a parsed header (set by a program, not read)
            return value
        return _parsed_header(self.header_factory, name,
                              value.replace("\r", "").replace("\n", ""))


@functools.lru_cache(maxsize=4096)
def _parsed_header(factory: HeaderRegistry, name: str, value: str) -> BaseHeader:
    # Parsed headers are immutable, so messages that share a header value may share its parse.
    return factory(name, value)


MODERN = _ParseHeadersOnce()


def read_message(raw: bytes) -> Message:
    """The parsed message: `policy.default`, or `compat32` where the modern parser fails."""
    raw = _strip_envelope(raw)
    try:
        msg = email.message_from_bytes(raw, policy=MODERN)
        msg.get_content_type()
        return msg
    except Exception:  # the modern header parser raises on some broken headers
        return email.message_from_bytes(raw, policy=policy.compat32)


@dataclass(frozen=True)
class ParsedEmail:
    """What the parser found, before anything is stored."""

    inbound: Inbound | None
    ignored: IgnoredReason | None
    subject: str = ""
    charset: str | None = None  # of the body text, as declared


def parse(raw: bytes, *, account_id: int | None = None, team_id: int | None = None,
          own_addresses: Collection[str] = ()) -> ParsedEmail:
    """Read one message; raise `MalformedEmail` for what is not a message we can take in."""
    if not raw.strip():
        raise MalformedEmail("empty message")
    try:
        return _parse(read_message(raw), raw, account_id=account_id, team_id=team_id,
                      own_addresses=own_addresses)
    except MalformedEmail:
        raise
    except Exception:
        # policy.default parsed, but reading a part failed: the old parser is more forgiving.
        msg = email.message_from_bytes(_strip_envelope(raw), policy=policy.compat32)
        try:
            return _parse(msg, raw, account_id=account_id, team_id=team_id,
                          own_addresses=own_addresses)
        except MalformedEmail:
            raise
        except Exception as exc:
            raise MalformedEmail(f"unreadable MIME structure: {type(exc).__name__}: {exc}"
                                 ) from exc


def parse_email(raw: bytes, *, account_id: int | None = None, team_id: int | None = None,
                own_addresses: Collection[str] = ()) -> Inbound | IgnoredReason:
    """Raw RFC 5322 bytes → an `Inbound`, or why it must be ignored (see `parse`)."""
    parsed = parse(raw, account_id=account_id, team_id=team_id, own_addresses=own_addresses)
    assert parsed.inbound is not None or parsed.ignored is not None
    return parsed.inbound if parsed.inbound is not None else parsed.ignored  # type: ignore[return-value]


def _parse(msg: Message, raw: bytes, *, account_id: int | None, team_id: int | None,
           own_addresses: Collection[str]) -> ParsedEmail:
    if not any(True for _ in msg.raw_items()):
        raise MalformedEmail("no header block")
    body_charset = msg.get_content_charset()
    parts = _Parts()
    _collect(msg, parts, body_charset)
    hint = parts.charset or body_charset
    subject = header_text(msg, "subject", charset=hint) or ""
    message_id = normalize_message_id(header_text(msg, "message-id") or "") or (
        synthetic_message_id(raw))
    senders = (addresses(header_text(msg, "from", charset=hint))
               or addresses(header_text(msg, "sender", charset=hint)))
    sender = senders[0] if senders else None
    reply_to = addresses(header_text(msg, "reply-to", charset=hint))
    own = {address.lower() for address in own_addresses}
    verdict = classify(msg, sender=sender.email if sender else None, subject=subject,
                       own_addresses=own)
    if verdict is not None:
        bounced, failure = bounce_details(msg) if verdict[0] == IgnoreCode.BOUNCE else ((), "")
        return ParsedEmail(None, IgnoredReason(verdict[0], verdict[1], message_id,
                                               tuple(bounced), failure),
                           subject, parts.charset)
    if sender is None:
        if not reply_to:
            raise MalformedEmail("no sender address (From, Sender and Reply-To are missing "
                                 "or unreadable)")
        sender = reply_to[0]
    text, html, trimmed = _body(parts, forward=bool(_FORWARD_SUBJECT.match(subject)))
    meta = _meta(msg, sender, reply_to, hint, trimmed=trimmed, charset=parts.charset)
    replies_to = [ref for ref in (message_ids_in(header_text(msg, "references"))
                                  + message_ids_in(header_text(msg, "in-reply-to")))
                  if ref != message_id]
    inbound = Inbound(
        channel=Channel.EMAIL, external_id=message_id,
        identities=[(IdentityKind.EMAIL, sender.email[:254])],
        name=(sender.name or None) and sender.name[:200], text=text, html=html,
        subject=subject or None, files=parts.files, replies_to=list(dict.fromkeys(replies_to)),
        account_id=account_id, team_id=team_id, meta=meta)
    return ParsedEmail(inbound, None, subject, parts.charset)


def _body(parts: _Parts, *, forward: bool) -> tuple[str, str | None, bool]:
    text = "\n\n".join(t.replace("\r\n", "\n").replace("\r", "\n").strip()
                       for t in parts.texts if t.strip())
    html = "\n".join(h for h in parts.htmls if h.strip()) or None
    if forward:
        return text or (html_to_text(html) if html else ""), html, False
    cut = cut_html_quote(html) if html else None
    if text:
        text, quoted = split_reply(text)
        if quoted:
            html = cut  # None: the agent sees the trimmed text rather than the old thread
        return text, html, quoted
    if html is None:
        return "", None, False
    if cut is not None:
        html = cut
    text, quoted = split_reply(html_to_text(html))
    if quoted and cut is None:
        html = None
    return text, html, quoted or cut is not None


def _meta(msg: Message, sender: Address, reply_to: list[Address], hint: str | None, *,
          trimmed: bool, charset: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"from": _display(sender)}
    for key in ("to", "cc"):
        found = addresses(header_text(msg, key, charset=hint))
        if found:
            meta[key] = [_display(a) for a in found[:50]]
    if reply_to and reply_to[0].email != sender.email:
        meta["reply_to"] = reply_to[0].email
    if trimmed:
        meta["quote_trimmed"] = True
    if charset and charset not in ("utf-8", "us-ascii"):
        meta["charset"] = charset
    return meta


def _display(address: Address) -> str:
    return f"{address.name} <{address.email}>" if address.name else address.email


def own_address_set(values: Iterable[str | None]) -> frozenset[str]:
    """Plain lower-case addresses of "Name <addr>" strings (our mailboxes, mail_from)."""
    found: set[str] = set()
    for value in values:
        for address in addresses(value or ""):
            found.add(address.email)
    return frozenset(found)
