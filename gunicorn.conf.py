"""gunicorn reads this file from its working directory (deploy/khaibao-central.service runs it
from the checkout): settings given on the command line still win."""


def post_worker_init(worker):
    from core.heap import settle_after_start

    settle_after_start()
