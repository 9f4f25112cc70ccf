"""The published JSON Schemas of the scenario and plan formats, generated from the models.

A copy of each is kept in ``src/allocate/schemas/`` (and tested to be current) so that outside
tools can validate files without installing the library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

SCHEMA_DIR = Path(__file__).parent / "schemas"


def json_schema(kind: Literal["scenario", "plan"]) -> dict[str, Any]:
    """The JSON Schema of ``kind``, as generated from the pydantic models."""
    if kind == "scenario":
        from allocate.scenario import Scenario as model
    elif kind == "plan":
        from allocate.plan import Plan as model
    else:
        raise ValueError(f"unknown schema kind {kind!r}: use 'scenario' or 'plan'")
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"allocate.{kind}/1"
    return schema


def schema_text(kind: Literal["scenario", "plan"]) -> str:
    return json.dumps(json_schema(kind), indent=1, sort_keys=True) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> None:
    """Rewrite the schema copies (run after changing a model)."""
    directory.mkdir(parents=True, exist_ok=True)
    for kind in ("scenario", "plan"):
        (directory / f"{kind}.schema.json").write_text(schema_text(kind), encoding="utf-8")


if __name__ == "__main__":
    write_schemas()
