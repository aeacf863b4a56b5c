"""``python -m facexp.collect urls|search|folder|dedup|snippet``: the collect commands without the rest of facexp."""

import typer

from .cli import collect_app, dedup_command, snippet_command

app = typer.Typer(no_args_is_help=True, add_completion=False, help=collect_app.info.help)
app.registered_commands += collect_app.registered_commands
app.command("dedup")(dedup_command)
app.command("snippet")(snippet_command)

if __name__ == "__main__":
    app(prog_name="python -m facexp.collect")
