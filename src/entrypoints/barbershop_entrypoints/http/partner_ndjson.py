"""``POST /api/register-clients`` with ``application/x-ndjson``: a day's promo in one request.

One participant per line (blank lines are skipped), up to :data:`MAX_LINES`. Lines are
decoded, checked and gathered into batches of up to 1000 as they arrive; each batch goes to
the core's set-based :func:`register_promo_participants` while the next one is read, and its
results are written back, one JSON line per participant line, in order, as soon as it is
written. The server holds at most three batches; the client need hold none. A line that
is not JSON, or longer than a single participant may be, gets its own ``{"error": …}`` line
and the others go on; past :data:`MAX_LINES` the stream ends with an error line. With an
``Idempotency-Key`` participant line ``i`` (from 0) is the key ``<key>/<i>``: a retried
stream replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import attrs
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send

from barbershop_core.errors import DomainError, ValidationError
from barbershop_core.model import Partner
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.promo import (
    IDEMPOTENCY_KEY_MAX,
    MAX_BATCH,
    PromoDeps,
    PromoItemResult,
    RegisterPromoParticipants,
    parse_promo_registration,
    register_promo_participants,
)
from barbershop_entrypoints.http.partner_errors import PartnerRefusal, error_body, item_error
from barbershop_entrypoints.http.partner_json import decode_json
from barbershop_entrypoints.http.partner_openapi import MAX_LINES, NDJSON

log = logging.getLogger("barbershop.http")

MEDIA_TYPE: Final = NDJSON
LINE_MAX: Final = 64 * 1024
"""A participant with ten purchases is under 4 KiB even with every character \\u-escaped."""
MAX_BODY: Final = MAX_LINES * 4 * 1024
KEY_MAX: Final = IDEMPOTENCY_KEY_MAX - len(f"/{MAX_LINES - 1}")
TOO_MANY_LINES: Final = f"Не больше {MAX_LINES} участников в одном потоке: остальные строки не обработаны"
LINE_TOO_LONG: Final = f"Строка длиннее {LINE_MAX // 1024} КиБ"


async def lines(chunks: AsyncIterator[bytes], max_line: int = LINE_MAX) -> AsyncIterator[bytes | None]:
    """The non-blank lines of a byte stream, as they complete; None stands for a line
    longer than ``max_line``, which is dropped as it arrives (never buffered whole)."""
    buffer = bytearray()
    skipping = False
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            piece, start = chunk[start:end], end + 1
            if skipping:
                skipping = False
                continue
            if len(buffer) + len(piece) > max_line:
                buffer.clear()
                yield None
                continue
            buffer += piece
            line = bytes(buffer)
            buffer.clear()
            if line.strip():
                yield line
        if skipping:
            continue
        rest = chunk[start:]
        if len(buffer) + len(rest) > max_line:
            buffer.clear()
            skipping = True
            yield None
        else:
            buffer += rest
    if not skipping and buffer.strip():
        yield bytes(buffer)


@attrs.define
class StreamCounts:
    registered: int = 0
    replayed: int = 0
    refused: int = 0


@attrs.define
class _Pending:
    """The lines of the batch being gathered: an error already, or a participant to register."""

    answers: list[dict[str, Any] | None] = attrs.field(factory=list)
    participants: list[object] = attrs.field(factory=list)
    positions: list[int] = attrs.field(factory=list)
    slots: list[int] = attrs.field(factory=list)


async def register_stream(
    source: AsyncIterator[bytes | None],
    partner: Partner,
    promo: PromoDeps,
    key: str | None,
    request_id: str,
    counts: StreamCounts,
) -> AsyncIterator[bytes]:
    """The result lines of a stream of participant lines, batch by batch, in order.

    The lines are read, decoded and checked by a task of their own while the batch before
    them is written (the loop's work overlaps the database's). Batches are written one at
    a time, in order, so a later line always sees what an earlier one wrote, and each
    batch's result lines go out as soon as it is written — a client that sends a batch and
    waits for its results before sending more is answered. At most three batches are held:
    the one being written, the next one, and the one being read.
    """
    batches: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=1)
    reader = asyncio.ensure_future(_read_batches(source, promo, batches))
    try:
        while (pending := await _next_batch(batches, reader)) is not None:
            if out := await _write(pending, partner, promo, key, request_id, counts):
                yield out
        if await reader:
            counts.refused += 1
            yield _line(error_body(TOO_MANY_LINES))
    finally:
        # The stream ended, or its client is gone: nobody reads what is left.
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        elif not reader.cancelled() and reader.exception() is not None:
            # Failed while a batch was being written, which then failed too: that error is
            # the stream's; the reader's is logged here rather than lost.
            log.warning("the stream's body could not be read: %s", type(reader.exception()).__name__)


async def _read_batches(
    source: AsyncIterator[bytes | None], promo: PromoDeps, batches: asyncio.Queue[_Pending | None]
) -> bool:
    """Put the batches of ``source`` into ``batches``, then None; True when lines past
    :data:`MAX_LINES` came (they are not read)."""
    pending = _Pending()
    position = 0
    past_the_bound = False
    async for line in source:
        if position == MAX_LINES:
            past_the_bound = True
            break
        _take(pending, line, position, promo)
        position += 1
        # Cut on lines, not on the participants among them: refused lines are held and
        # answered like the others, and a client waiting for a batch's answers gets them.
        if len(pending.answers) == MAX_BATCH:
            await batches.put(pending)
            pending = _Pending()
    await batches.put(pending)
    await batches.put(None)
    return past_the_bound


async def _next_batch(batches: asyncio.Queue[_Pending | None], reader: asyncio.Future[bool]) -> _Pending | None:
    """The next batch read, or the reader's failure (a body that could not be read)."""
    getting = asyncio.ensure_future(batches.get())
    try:
        await asyncio.wait((getting, reader), return_when=asyncio.FIRST_COMPLETED)
        if not getting.done() and (reader.cancelled() or reader.exception() is not None):
            reader.result()  # raises: the reader's failure is the stream's
        return await getting
    finally:
        if not getting.done():
            getting.cancel()


def _take(pending: _Pending, line: bytes | None, position: int, promo: PromoDeps) -> None:
    """Decode and check a line as it arrives: a bad one is answered at once, a good one waits for its batch."""
    if line is None:
        pending.answers.append(error_body(LINE_TOO_LONG))
        return
    try:
        registration = parse_promo_registration(decode_json(line), promo.policy)
    except PartnerRefusal as refusal:
        pending.answers.append(error_body(refusal.message))
        return
    except ValidationError as refused:
        pending.answers.append(item_error(refused))
        return
    pending.slots.append(len(pending.answers))
    pending.answers.append(None)
    pending.participants.append(registration)
    pending.positions.append(position)


async def _write(
    pending: _Pending, partner: Partner, promo: PromoDeps, key: str | None, request_id: str, counts: StreamCounts
) -> bytes:
    """Write one batch; its result lines, in order."""
    return b"".join([out async for out in _flush(pending, partner, promo, key, request_id, counts)])


async def _flush(
    pending: _Pending, partner: Partner, promo: PromoDeps, key: str | None, request_id: str, counts: StreamCounts
) -> AsyncIterator[bytes]:
    if pending.participants:
        batch = RegisterPromoParticipants(pending.participants, partner, key, request_id, pending.positions)
        try:
            answers = [_answer(result, counts) for result in await register_promo_participants(batch, promo)]
        except (DomainError, StorageUnavailable) as exc:
            # The store failed this batch: each of its lines says so; a retry of the stream replays the rest.
            answers = [item_error(exc)] * len(pending.slots)
        for slot, answer in zip(pending.slots, answers, strict=True):
            pending.answers[slot] = answer
    done = [answer for answer in pending.answers if answer is not None]
    counts.refused += sum(1 for answer in done if "error" in answer)
    if done:
        yield b"".join(_line(answer) for answer in done)


def _answer(result: PromoItemResult, counts: StreamCounts) -> dict[str, Any]:
    if result.error is not None:
        return item_error(result.error)
    if result.replayed:
        counts.replayed += 1
    else:
        counts.registered += 1
    return {"client_id": result.client_id}


def _line(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, ensure_ascii=False).encode() + b"\n"


class _ReadingWhileWriting(ASGIStreamingResponse):
    """Litestar's streaming response without its disconnect listener: that listener calls
    ``receive`` while the body is sent, and would take the request's own lines, which the
    results are made of. A client that goes away is noticed when a send fails."""

    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        await self._stream(send)


class NdjsonStream(Stream):
    """A streamed NDJSON answer whose iterator may still read the request body."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        response = super().to_asgi_response(*args, **kwargs)
        response.__class__ = _ReadingWhileWriting
        return response
