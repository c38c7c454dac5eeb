"""The Python example app's worker: prints a tick every second."""
import time

import six

n = 0
while True:
    n += 1
    print(f"tick {n} (six {six.__version__})", flush=True)
    time.sleep(1)
