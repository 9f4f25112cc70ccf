"""Field types and error formatting shared by the scenario and plan models.

Strict types on purpose: a string "42" is not a seed and ``true`` is not a number (FORMAT.md's
invalid vectors), and JSON's NaN/Infinity extensions are refused everywhere.
"""

from __future__ import annotations

import json
import math
import re
from types import MappingProxyType
from typing import Annotated, Any, Mapping

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    ValidationError,
    model_validator,
)

Id = Annotated[str, Strict(), Field(min_length=1)]
Text = Annotated[str, Strict()]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
Probability = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]


def _whole_number(value: Any) -> Any:
    """Accept 3 and 3.0 as the whole number 3; leave anything else for the int check to refuse."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


WholeNonNegative = Annotated[int, Strict(), Field(ge=0), BeforeValidator(_whole_number)]
"""A whole number ≥ 0; the validator runs first (it is the outermost), turning 3.0 into 3."""


def _freeze(mapping: dict[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


Quantities = Annotated[
    dict[Id, NonNegative],
    AfterValidator(_freeze),
    PlainSerializer(lambda m: dict(m), return_type=dict),
]
"""``{commodity: units}``: read-only once validated."""

WholeCounts = Annotated[
    dict[Id, WholeNonNegative],
    AfterValidator(_freeze),
    PlainSerializer(lambda m: dict(m), return_type=dict),
]


class Entity(BaseModel):
    """Base of every scenario object: immutable, unknown keys refused except the user's ``x_``."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        allow_inf_nan=False,
        validate_default=False,
        # Published schema: only the declared keys and the user's own x_ keys.
        json_schema_extra={"additionalProperties": False, "patternProperties": {"^x_": {}}},
    )

    name: Text | None = None
    note: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields)
            for key, value in data.items():
                if key not in known and not (isinstance(key, str) and key.startswith("x_")):
                    raise ValueError(f"unknown key {key!r} (value {short(value)})")
                if key in ("name", "note", "unit") and value is None and key in known:
                    raise ValueError(f"{key} must be a string, not null (value null)")
            refuse_non_finite({k: v for k, v in data.items() if k not in known})
        return data

    def user_keys(self) -> dict[str, Any]:
        """The user's own ``x_`` keys, kept as given."""
        return dict(self.model_extra or {})


def refuse_non_finite(data: Any, path: str = "") -> None:
    """Refuse NaN and infinities anywhere, user ``x_`` keys and extra fields included: they
    cannot be written back as JSON, so keeping them would silently change what the user gave."""
    if isinstance(data, float) and not math.isfinite(data):
        raise ValueError(f"{path or 'value'}: a number must be finite (value {data})")
    if isinstance(data, dict):
        for key, value in data.items():
            refuse_non_finite(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            refuse_non_finite(value, f"{path}[{i}]")


def short(value: Any, limit: int = 60) -> str:
    """A value as it would read in JSON, cut to ``limit`` characters for an error message."""
    try:
        text = json.dumps(value, allow_nan=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_path(loc: tuple[Any, ...]) -> str:
    """``('roads', 5, 'risk')`` -> ``roads[5].risk``; union tags from pydantic are dropped."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_union_tag(loc, i):
            continue  # discriminated-union tag or function-validator name, not a JSON key
        else:
            out += f".{part}" if out else str(part)
    return out


def _is_union_tag(loc: tuple[Any, ...], i: int) -> bool:
    """Pydantic inserts the node kind after ``nodes[i]`` and validator names like
    ``function-after[...]``; neither is a key of the user's JSON."""
    part = loc[i]
    if not isinstance(part, str):
        return False
    if "[" in part:
        return True
    return part in {"depot", "site", "junction"} and i >= 2 and loc[i - 2] == "nodes" and isinstance(loc[i - 1], int)


# pydantic names Python types ("a valid tuple", "a valid dictionary or instance of ScenarioRef");
# a scenario or plan author writes JSON, so these errors say it in JSON's words
_JSON_WORDING = {
    "tuple_type": "Input should be a list",
    "list_type": "Input should be a list",
    "dict_type": "Input should be an object",
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
}


def validation_problems(err: ValidationError, data: Any) -> list[tuple[str, str]]:
    """Turn pydantic's errors into ``(json_path, message naming the value)`` pairs."""
    problems: list[tuple[str, str]] = []
    for item in err.errors(include_url=False):
        loc = tuple(item.get("loc", ()))
        msg = _JSON_WORDING.get(str(item.get("type")), item.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        path = json_path(loc)
        if item.get("type") in {"missing"}:
            problems.append((path, "required field is missing"))
            continue
        unknown = re.match(r"unknown key '([^']*)'", msg)
        if unknown:
            problems.append((f"{path}.{unknown.group(1)}" if path else unknown.group(1), msg))
        elif "value" in msg:
            problems.append((path, msg))
        else:
            problems.append((path, f"{msg} (value {short(item.get('input'))})"))
    return problems


def read_json(path: Any, error_type: type[Exception]) -> Any:
    """Read a JSON file, turning unreadable files and syntax errors into ``error_type``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise error_type(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error_type(f"{path} is not UTF-8 text: {exc}") from None
    return parse_json(text, error_type, str(path))


def parse_json(text: str, error_type: type[Exception], source: str = "input") -> Any:
    """Parse JSON text; NaN and Infinity literals are refused by the models, which name the field."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error_type(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def dump_json(data: Any) -> str:
    """The one JSON layout the library writes: 1-space indent, key order kept, no NaN."""
    return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
