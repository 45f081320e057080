"""The JSON Schema of the YAML file, generated from the same types that decode it.

The schema ships beside this module (``portrait.schema.json``) so that editors complete the file
(``# yaml-language-server: $schema=...``, docs/operations.md); a test keeps it equal to the types.
Regenerate it with ``python -m streams.settings.schema > streams/settings/portrait.schema.json``;
``python -m streams.settings.schema --path`` prints where the installed copy is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import msgspec

from streams.settings.tree import PortraitFile
from streams.settings.values import schema_hook

SHIPPED: Final = Path(__file__).with_name("portrait.schema.json")


def schema() -> dict[str, Any]:
    generated = msgspec.json.schema(PortraitFile, schema_hook=schema_hook)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Portrait configuration (PORTRAIT_CONFIG)",
        **generated,
    }


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(f"{SHIPPED}\n" if sys.argv[1:] == ["--path"] else render())
