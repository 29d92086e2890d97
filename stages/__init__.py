"""The DVC stages of this pipeline (the modules at this level) and their library (the sub-packages)."""

from stages.common.telemetry import declined_without_consent_file

# before any module of this project imports OpenVINO or NNCF, which start their telemetry on import or first use
declined_without_consent_file()
