"""OpenVINO's and NNCF's usage telemetry: off in this project's processes unless the user opted in.

Without a consent file, openvino-telemetry sends an event for every model conversion and NNCF call, each from a
forked copy of the whole process that waits up to 3 s for the network (upstream: ``OptInChecker.check`` reports
"no file", which ``Telemetry.init`` treats as consent when the tool shows no opt-in dialog, as OVC and NNCF do).
Offline, each of those waits is lost time (docs/hosts-and-caching.md has the measurement). A pipeline that must
run offline and give the same bytes makes no such calls: here "no file" counts as declined. A user who opted in with
OpenVINO's own ``opt_in_out --opt_in`` (consent file "1") keeps it on; nothing is written to the consent files.
"""

from __future__ import annotations

import importlib.metadata
import logging

log = logging.getLogger(__name__)

TELEMETRY_VERSION = "2025.2.0"  # openvino-telemetry, pinned in pyproject.toml: the version this was written against


def declined_without_consent_file() -> bool:
    """Make a missing consent file count as declined in this process; False (nothing patched) where
    openvino-telemetry is absent or of another version than the one this was written for."""
    try:
        version = importlib.metadata.version("openvino-telemetry")
    except importlib.metadata.PackageNotFoundError:
        return False
    if version != TELEMETRY_VERSION:
        log.debug("openvino-telemetry %s is not %s: its telemetry is left as the library decides",
                  version, TELEMETRY_VERSION)
        return False
    from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker

    check = OptInChecker.check
    if getattr(check, "declines_without_file", False):
        return True

    def check_declining_without_file(self, enable_opt_in_dialog, disable_in_ci=False):
        result = check(self, enable_opt_in_dialog, disable_in_ci)
        return ConsentCheckResult.DECLINED if result == ConsentCheckResult.NO_FILE else result

    check_declining_without_file.declines_without_file = True
    OptInChecker.check = check_declining_without_file
    return True
