"""The Gradio demo, driven by a real gradio_client against a server on a free localhost port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from PIL import Image

pytest.importorskip("gradio", reason="the demo is an optional extra: pip install -e '.[demo]'")
from gradio_client import Client, handle_file  # noqa: E402

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def client(reproduced):
    repo, _ = reproduced
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost"}
    server = subprocess.Popen([sys.executable, "-m", "ov_diffusion_quant.cli.demo", "--port", str(port)], cwd=repo, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"demo exited: {server.stdout.read()[-3000:]}")
            time.sleep(1)
    else:
        server.kill()
        pytest.fail("demo did not start listening within 180 s")
    yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    server.terminate()
    server.wait(timeout=30)


def test_text_to_image_gives_both_images_latencies_and_similarity(client):
    fp, optimized, fp_time, opt_time, status = client.predict(
        "tiny-sdxl-turbo", "CPU", "cute cat", 42, 1, 128, 128, api_name="/text_to_image")
    # generated at 128 px, shown 3x (nearest neighbour) so that small shapes can be seen
    assert Image.open(fp).size == (384, 384) and Image.open(optimized).size == (384, 384)
    assert fp_time.startswith("FP: ") and opt_time.startswith("optimized: ")
    assert "PSNR" in status and "SSIM" in status and "shown 3x (128x128 px generated)" in status


def test_two_sessions_at_once_on_the_same_model_both_get_their_images(client):
    """A second browser session (its own client) asks while the first one's request runs."""
    other = Client(client.src, verbose=False)
    jobs = [session.submit("tiny-sdxl-turbo", "CPU", "cute cat", 7, 1, 128, 128, api_name="/text_to_image")
            for session in (client, other)]
    results = [job.result(timeout=600) for job in jobs]
    for fp, optimized, _, _, status in results:
        assert Image.open(fp).size == (384, 384) and "PSNR" in status
    first, second = (Image.open(result[1]).tobytes() for result in results)
    assert first == second, "the same seed on the same model"


def test_pixart_text_to_image(client):
    fp, optimized, _, _, status = client.predict("tiny-pixart-lcm", "CPU", "a small cactus", 3, 4, 128, 128,
                                                 api_name="/text_to_image")
    assert Image.open(fp).size == (384, 384) and "SSIM" in status


def test_image_to_image_and_its_bad_input(client):
    fp, *_ = client.predict("tiny-sdxl-turbo", "CPU", "cute cat", 42, 1, 128, 128, api_name="/text_to_image")
    edited, edited_opt, _, _, status = client.predict(
        "tiny-sdxl-turbo", "CPU", "a cute cat with bow tie", handle_file(fp), 511, 2, 0.5, api_name="/image_to_image")
    assert Image.open(edited).size == (384, 384) and "PSNR" in status
    none, none_opt, _, _, message = client.predict(
        "tiny-sdxl-turbo", "CPU", "a cute cat with bow tie", handle_file(fp), 511, 1, 0.5, api_name="/image_to_image")
    assert none is None and none_opt is None
    assert "steps x strength = 1 x 0.5 = 0.5 < 1" in message


def test_a_model_that_was_not_produced_names_its_dvc_target(client):
    fp, optimized, _, _, message = client.predict("tiny-sdxl-turbo", "AUTO", "cute cat", 1, 1, 128, 128,
                                                  api_name="/text_to_image")
    assert fp is None and optimized is None
    assert "dvc repro quantize@tiny-sdxl-turbo-AUTO" in message


def test_the_pipeline_does_not_import_gradio():
    code = "import sys, stages.evaluate, stages.quantize, stages.calibrate, ov_diffusion_quant.orchestration.inference; " \
           "sys.exit('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
