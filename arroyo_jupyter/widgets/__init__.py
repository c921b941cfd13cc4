"""Live anywidget views of an Arroyo pipeline; each one is made from a pipeline handle.

```python
JobStateWidget(p); OutputTable(p); ErrorsWidget(p); CheckpointsWidget(p); MetricsWidget(p); Dashboard(p)
```
"""

from __future__ import annotations

from .checkpoints import CheckpointsWidget
from .dashboard import Dashboard
from .errors import ErrorsWidget
from .figure import FigureView
from .job_state import JobStateWidget
from .metrics import MetricsWidget
from .output_table import OutputTable

__all__ = [
    "CheckpointsWidget",
    "Dashboard",
    "ErrorsWidget",
    "FigureView",
    "JobStateWidget",
    "MetricsWidget",
    "OutputTable",
]
