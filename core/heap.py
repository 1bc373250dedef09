"""A long-running server process settles its heap once the app is built: the start-up objects
(modules, the app, SQLAlchemy's mappers) move out of the cyclic garbage collector's sight, so a
full collection in the middle of a request scans only what requests left behind. Without it a
full collection took 20–60 ms of a tracer's contact query (bench/bench_contacts.py)."""
from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def settle_after_start() -> None:
    """Call once per process after the app is built and before it serves (gunicorn.conf.py's
    post_worker_init). Objects made later are collected as usual."""
    from sqlalchemy.orm import configure_mappers

    configure_mappers()   # otherwise built by the first request, after the freeze
    gc.collect()
    gc.freeze()
    logger.info("heap settled: %d objects frozen", gc.get_freeze_count())
