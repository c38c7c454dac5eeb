"""The Python example app's release phase: `python manage.py migrate`."""
import sys

import fastsum
import idna
import six

if sys.argv[1:] != ["migrate"]:
    sys.exit(f"usage: {sys.argv[0]} migrate")
assert fastsum.add(2, 3) == 5 and six.__version__ and idna.__version__
print("Migrations applied", flush=True)
