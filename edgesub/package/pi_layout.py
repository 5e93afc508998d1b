"""The file names a Raspberry Pi bundle holds beside its models, shared by the packager and
the aarch64 check that runs the bundle as a Pi would."""

RUNNER = "run.py"
REQUIREMENTS = "requirements.txt"
