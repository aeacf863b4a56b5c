"""`facexp serve`: the REST API and the web page in one uvicorn server."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from ..errors import ConfigError


def serve_command(
    model: Annotated[Optional[str], typer.Argument(help="Model directory (default: the shipped model).")] = None,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key-env.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    api_key_env: Annotated[Optional[str], typer.Option(help="Name of the environment variable holding the API key.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model once).")] = 1,
    max_upload_mb: Annotated[float, typer.Option(help="Largest accepted upload, MB.")] = 10.0,
    max_megapixels: Annotated[float, typer.Option(help="Largest accepted image, megapixels.")] = 40.0,
    timeout: Annotated[float, typer.Option(help="Seconds before a prediction is answered with 504.")] = 30.0,
    max_concurrency: Annotated[int, typer.Option(help="Predictions at once per worker; more get 503 + Retry-After.")] = 4,
    cors_origin: Annotated[Optional[list[str]], typer.Option(help="Allow browser calls from this origin (repeatable); off by default.")] = None,
):
    """Serve the REST API (/v1, docs at /docs) and the web page (/)."""
    import uvicorn

    from .settings import ServeSettings

    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ConfigError(f"--api-key-env {api_key_env}: that environment variable is empty or unset")
    settings = ServeSettings(model=model, host=host, port=port, api_key=api_key,
                             max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=int(max_megapixels * 1e6),
                             timeout_s=timeout, max_concurrency=max_concurrency, cors_origins=tuple(cors_origin or ()))
    settings.check()
    typer.echo(f"facexp serving on http://{host}:{port}  (API docs: /docs)", err=True)
    if workers > 1:
        os.environ.update(settings.to_env())
        uvicorn.run("facexp.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
    else:
        from .app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
