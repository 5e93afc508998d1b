"""Small student networks that output a point in the teacher's k-dim subspace."""

from edgesub.students.registry import (
    STUDENTS,
    build_student,
    count_params,
    deployed_params,
    width_for_params,
)

__all__ = ["STUDENTS", "build_student", "count_params", "deployed_params", "width_for_params"]
