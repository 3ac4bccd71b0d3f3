"""Test helpers: a real OpenAI-compatible server on 127.0.0.1 running the embedded model.

Example (a session fixture in any test folder)::

    @pytest.fixture(scope="session")
    def openai_server_url():
        pytest.importorskip("llama_cpp.server")
        with start_local_openai_server() as base_url:
            yield base_url      # e.g. "http://127.0.0.1:41237/v1"
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from evalkit.errors import ConfigError
from evalkit.model._local import default_threads
from evalkit.model._spec import default_gguf_path

__all__ = ["start_local_openai_server"]


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def start_local_openai_server(
    model_path: str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    n_ctx: int = 2048,
    startup_timeout_s: float = 60.0,
) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on a free port; yield its ``/v1`` base URL.

    The server runs the GGUF at *model_path* (default: the embedded SmolLM2 model)
    and is terminated on exit. Its output goes to a temporary log file whose tail is
    included in the error if it fails to start.

    Raises:
        ConfigError: llama-cpp-python's server extra or the model is not installed.
        RuntimeError: the server exited or did not answer ``/v1/models`` in time.
    """
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec(
        "uvicorn"
    ) is None:
        raise ConfigError("the test server needs llama-cpp-python[server]: "
                          "pip install 'evalkit[local]'")
    path = Path(model_path) if model_path is not None else default_gguf_path()
    port = _free_port(host)
    base_url = f"http://{host}:{port}/v1"
    log_dir = Path(tempfile.mkdtemp(prefix="evalkit-llama-server-"))
    log_path = log_dir / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", host,
        "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(default_threads()),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not _answers(f"{base_url}/models"):
            if process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {process.returncode}:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"llama_cpp.server did not answer {base_url}/models within "
                    f"{startup_timeout_s:g}s:\n{_tail(log_path)}"
                )
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        with contextlib.suppress(OSError):
            log_path.unlink()
            log_dir.rmdir()
