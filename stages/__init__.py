"""The DVC stages of this pipeline, one module per stage (dvc.yaml); the library is ov_diffusion_quant."""

from ov_diffusion_quant.common.telemetry import declined_without_consent_file

# Process set-up for every stage, before its imports reach OpenVINO or NNCF (NNCF asks for telemetry consent on
# import): without a consent file, telemetry counts as declined.
declined_without_consent_file()
