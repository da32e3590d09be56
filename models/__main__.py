"""`python -m models ...`: train and list models (see models/cli.py)."""

from data.warehouse import use_private_umask

use_private_umask()  # saved models, keys and anything else this command writes are private to its user
from models.cli import app  # noqa: E402

app(prog_name="python -m models")
