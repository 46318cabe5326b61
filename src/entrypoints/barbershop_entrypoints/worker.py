"""``barbershop worker``: consume ``notifications.send`` from Redis.

Each message is acknowledged only after its task ran (``AcknowledgeType.WHEN_EXECUTED``),
and the task returns only after the attempt's outcome is committed: a worker that dies
mid-task leaves its message pending in Redis and its attempt leased in the database,
and another worker takes over once the lease runs out. SIGTERM / SIGINT stop taking
messages and let the running sends finish (up to ``SHUTDOWN_GRACE_SECONDS``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from taskiq import AcknowledgeType
from taskiq.receiver import Receiver

from barbershop_entrypoints.bootstrap import Container
from barbershop_entrypoints.metrics import metrics_wsgi_app
from barbershop_entrypoints.startup_objects import startup_objects_frozen
from barbershop_entrypoints.tasks import CONSUMER_GROUP

SHUTDOWN_GRACE_SECONDS: Final = 30.0
_RESTART_DELAY_SECONDS: Final = 1.0

log = logging.getLogger("barbershop.worker")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


def serve_metrics(host: str, port: int, token: str | None) -> WSGIServer:
    """``GET /metrics`` of this worker on a thread of its own (Bearer ``BARBERSHOP_METRICS_TOKEN``;
    404 without one, as on ``serve``)."""
    server = make_server(host, port, metrics_wsgi_app(token), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="barbershop-metrics", daemon=True).start()
    log.info("worker metrics on http://%s:%s/metrics", host, server.server_port)
    return server


async def run_worker(container: Container, *, concurrency: int) -> int:
    if not container.settings.queue.broker_url:
        print(
            "barbershop: no BARBERSHOP_BROKER_URL — on the embedded default the queue runs inside `barbershop serve`",
            file=sys.stderr,
        )
        return 2
    broker = container.broker
    broker.is_worker_process = True
    await broker.startup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stream = container.settings.queue.broker_stream
    log.info("worker started: stream %s, group %s, %s sends at once", stream, CONSUMER_GROUP, concurrency)
    # Tasks are coroutines; the executor only serves taskiq's sync-task path, unused here.
    with ThreadPoolExecutor(max_workers=1) as executor, startup_objects_frozen():
        while not stop.is_set():
            receiver = Receiver(
                broker,
                executor=executor,
                max_async_tasks=concurrency,
                run_startup=False,
                ack_type=AcknowledgeType.WHEN_EXECUTED,
                propagate_exceptions=False,
                wait_tasks_timeout=SHUTDOWN_GRACE_SECONDS,
            )
            try:
                await receiver.listen(stop)
            except Exception:
                log.exception("the worker's receiver failed; it starts again in %ss", _RESTART_DELAY_SECONDS)
                await asyncio.sleep(_RESTART_DELAY_SECONDS)
    log.info("worker stopped")
    return 0
