"""`python -m models ...`: train and list models (see models/cli.py)."""

from models.cli import app

app(prog_name="python -m models")
