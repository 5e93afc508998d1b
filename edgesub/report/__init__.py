"""Reports of a run: terminal tables, PNG plots and one self-contained HTML page.

Importing this package stays light: matplotlib is imported only when plots are drawn.
"""

from edgesub.report.html import write_report

__all__ = ["write_report"]
