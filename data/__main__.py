from data.warehouse import use_private_umask

use_private_umask()  # before any command creates a file: warehouse, inbox, exports and reports are private
from data.cli import app  # noqa: E402

app(prog_name="python -m data")
