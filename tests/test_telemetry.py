"""OpenVINO's and NNCF's usage telemetry: off in this project's processes without a consent file, on where the
user opted in (ov_diffusion_quant/common/telemetry.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO
from ov_diffusion_quant.common.telemetry import TELEMETRY_VERSION

# What NNCF and OVC pass when they start their telemetry (nncf/telemetry/wrapper.py, ovc/telemetry_utils.py).
TELEMETRY_AS_NNCF_STARTS_IT = ("from openvino_telemetry import Telemetry; "
                               "t = Telemetry(app_name='nncf', app_version='0', tid='G-0', backend='ga4', "
                               "enable_opt_in_dialog=False, disable_in_ci=True); print(t.consent)")


def consent_in_child(home, code: str) -> str:
    """What ``code`` prints in a fresh process whose home (where the consent file lives) is ``home``, outside CI."""
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env["HOME"] = str(home)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_upstream_sends_without_a_consent_file(tmp_path):
    """The behaviour the patch works around: if this fails, upstream changed and the patch may go."""
    assert consent_in_child(tmp_path, TELEMETRY_AS_NNCF_STARTS_IT) == "True"


def test_this_projects_processes_send_nothing_without_a_consent_file_and_write_no_file(tmp_path):
    assert consent_in_child(tmp_path, "import stages; import nncf; from openvino_telemetry import Telemetry; "
                                      "print(Telemetry().consent)") == "False"
    assert not (tmp_path / "intel").exists()


@pytest.mark.parametrize("content, consent", [("1", "True"), ("0", "False")])
def test_a_users_own_choice_is_kept(tmp_path, content, consent):
    (tmp_path / "intel").mkdir()
    (tmp_path / "intel" / "openvino_telemetry").write_text(content)
    assert consent_in_child(tmp_path, "import stages; " + TELEMETRY_AS_NNCF_STARTS_IT) == consent


def test_the_patched_version_is_the_pinned_one():
    pins = re.findall(r'"openvino-telemetry==([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert pins == [TELEMETRY_VERSION]
