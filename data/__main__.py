from data.cli import app

app(prog_name="python -m data")
