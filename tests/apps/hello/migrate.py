"""The example app's release phase (and a one-off command): says what it would migrate."""
import os

urls = sorted(k for k in os.environ if k.endswith("_URL"))
print(f"migrating on {os.environ.get('DYNO', '?')}: add-ons {', '.join(urls) or 'none'}")
