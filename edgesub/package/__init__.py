"""``edgesub package``: bundles an Android app or a Raspberry Pi can use as they are.

Targets register in :data:`TARGETS`. Importing this package is light: the flatbuffer writer,
the TFLite schema and the runtimes load only when a target runs.
"""

from __future__ import annotations

from edgesub.package import android, raspberry_pi
from edgesub.package.targets import TARGETS, PackageRequest, Target, package

__all__ = ["TARGETS", "PackageRequest", "Target", "android", "package", "raspberry_pi"]
