"""Gate tests share the synthetic-run helpers of the stats tests (tests/stats/statsim.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stats"))
