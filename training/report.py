"""How the scoring commands hand over a report: its table printed, its numbers optionally written as JSON."""
from __future__ import annotations

import json

from handcam.atomic import atomic_write_text


def publish(report: dict, table: str, json_path=None) -> None:
    """Print ``table`` (the report in words) and, when ``json_path`` is given, write ``report`` there as JSON
    (atomically: a reader never sees half a file)."""
    print(table)
    if json_path:
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
