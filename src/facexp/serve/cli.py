"""`facexp serve`: the REST API and the web page in one uvicorn server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .._plural import counted


def serve_command(
    model: Annotated[Optional[str], typer.Argument(help="Model directory (default: the shipped model).")] = None,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key-env.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    api_key_env: Annotated[Optional[str], typer.Option(
        help="Name of the environment variable holding the API key (the key itself never goes on the command line)."
    )] = None,
    workers: Annotated[int, typer.Option(help="Worker processes; each loads the model once.")] = 1,
    max_upload_mb: Annotated[float, typer.Option(help="Largest accepted image file, MB.")] = 10.0,
    max_megapixels: Annotated[float, typer.Option(
        help="Largest image decoded, megapixels (checked before decoding; a large JPEG counts at the reduced "
             "scale it is decoded at).")] = 40.0,
    max_batch: Annotated[int, typer.Option(help="Most images in one /v1/predict/batch request.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds to receive a request body, and again to predict (else 408/504).")] = 30.0,
    max_concurrency: Annotated[int, typer.Option(
        help="Requests admitted at once per worker (one per core computes, the others wait their turn); "
             "more get 503 + Retry-After.")] = 4,
    cors_origin: Annotated[Optional[list[str]], typer.Option(
        metavar="<url>", help="Let web pages from this origin call the API (repeatable); CORS is off by default.")] = None,
    engine: Annotated[Optional[str], typer.Option(
        help="Inference engine: onnx (ONNX Runtime; graph exported once per model and cached) or torch.")] = None,
    header_timeout: Annotated[float, typer.Option(
        help="Seconds a connection has to send its request headers (else 408 and closed).")] = 10.0,
    max_connections: Annotated[int, typer.Option(
        help="Open connections per worker; one more is answered 503 and closed.")] = 128,
    max_video_mb: Annotated[float, typer.Option(help="Largest clip for /v1/predict/video, MB.")] = 64.0,
    max_video_seconds: Annotated[float, typer.Option(
        help="Longest clip for /v1/predict/video (longer: 413; use `facexp predict clip.mp4`).")] = 120.0,
) -> None:
    """Serve the REST API (/v1, docs at /docs) and the web page (/)."""
    import uvicorn

    from .settings import MIB, ServeSettings, api_key_from_env, check_bindable

    api_key = api_key_from_env(api_key_env)
    settings = ServeSettings(model=model, host=host, port=port, api_key=api_key,
                             max_upload_bytes=int(max_upload_mb * MIB), max_pixels=int(max_megapixels * 1e6),
                             max_batch=max_batch, timeout_s=timeout, max_concurrency=max_concurrency,
                             cors_origins=tuple(cors_origin or ()), engine=engine, header_timeout_s=header_timeout,
                             max_connections=max_connections, max_video_bytes=int(max_video_mb * MIB),
                             max_video_s=max_video_seconds, workers=workers)
    settings.check()
    from .protocol import uvicorn_options

    run = dict(host=host, port=port, log_level="warning", timeout_graceful_shutdown=5, **uvicorn_options(settings))
    if workers == 1:
        from ..predict import Predictor
        from .app import create_app

        app = create_app(settings, Predictor(model, engine=engine))  # a bad model is a one-line error here, not a traceback
        check_bindable(host, port)
        _announce(host, port, workers)
        uvicorn.run(app, **run)
    else:
        from ..bundle import load_bundle, read_card
        from ..engines import make_engine, resolve_engine
        from ..predict import default_model_dir

        model_dir = Path(model) if model else default_model_dir()
        read_card(model_dir)  # fail here, once, rather than in every worker
        if resolve_engine(engine) == "onnx":
            make_engine(load_bundle(model_dir, lazy=True), "onnx")  # export once here, not in every worker
        os.environ.update(settings.to_env() | {"FACEXP_MODEL": str(model_dir.resolve())})
        check_bindable(host, port)
        _announce(host, port, workers)
        uvicorn.run("facexp.serve.app:app_from_env", factory=True, workers=workers, **run)


def _announce(host: str, port: int, workers: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"facexp serving on http://{shown}:{port}  (page: /, API docs: /docs, {counted(workers, 'worker')})",
               err=True)
