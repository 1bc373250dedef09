"""gunicorn reads this file from its working directory when no --config is given (a gunicorn
started by hand or by the tests in the checkout); deploy/khaibao-central.service uses
deploy/gunicorn.conf.py, which settles each worker's heap the same way."""


def post_worker_init(worker):
    from core.heap import settle_after_start

    settle_after_start()
