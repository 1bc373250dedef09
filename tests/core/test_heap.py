"""A gunicorn worker settles its heap once the app is built (gunicorn.conf.py, core/heap.py):
what exists then is out of the cyclic collector's sight, what requests make later is collected
as usual."""
from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a process of its own: a frozen heap would stay frozen for the rest of the test run.
WORKER = """
import gc, weakref
from app import create_app
app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://",
                  "INSTANCE_PATH": %(instance)r, "CAMERA_SOURCE": "none", "BLE": "off"})
hooks = {}
exec(open("gunicorn.conf.py").read(), hooks)
hooks["post_worker_init"](None)
assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
gc.collect()
assert gone() is None
print("ok")
"""


def test_a_worker_freezes_its_start_up_objects_and_still_collects_later_garbage(tmp_path):
    done = subprocess.run([sys.executable, "-c", WORKER % {"instance": str(tmp_path)}],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
    assert gc.get_freeze_count() == 0   # the test process itself was left alone
