"""The example app's worker process: a tick every five seconds."""
import os
import time

while True:
    print(f"{os.environ.get('DYNO')} tick: greeting={os.environ.get('GREETING', 'hello')}")
    time.sleep(5)
