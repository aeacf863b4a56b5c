"""``python -m facexp``: the `facexp` command, also what ``torchrun -m facexp`` launches."""

from .cli import app

if __name__ == "__main__":
    app(prog_name="facexp")
