"""Where the business rules come from (docs/rules.md): ``PORTRAIT_RULES`` names a rules file;
else the ``rules:`` key of the config file holds them; else the shipped default pack.

The worker reloads them while it runs (streams/pipeline/rules_reload.py), so the source is kept
as a small object that can read them again, not only as the rules read at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from profiles.rules import RulesError, RuleSet, default_rules, load_rules, load_rules_file
from streams.settings.base import ConfigError

DEFAULT: str = "default"


@dataclass(frozen=True, slots=True)
class RulesSource:
    """``path``: the rules file, or the config file whose ``rules:`` key holds them (``inline``);
    None: the default pack."""

    path: str | None = None
    inline: bool = False

    @property
    def name(self) -> str:
        """What ``portrait rules`` commands and the logs call it."""
        if self.path is None:
            return DEFAULT
        return f"{self.path} (rules:)" if self.inline else self.path

    def stamp(self) -> tuple[int, int] | None:
        """The file's (mtime_ns, size): a change of it means "read again" (None: no file)."""
        if self.path is None:
            return None
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def load(self) -> RuleSet:
        """The rules now in the source; :class:`ConfigError` (one line) if they are wrong."""
        try:
            if self.path is None:
                return default_rules()
            if not self.inline:
                return load_rules_file(self.path)
            return load_rules(_config_text(self.path), self.path, at=("rules",))
        except RulesError as exc:
            raise ConfigError(str(exc)) from None
        except OSError as exc:
            raise ConfigError(f"cannot read PORTRAIT_RULES {self.path}: {exc.strerror}") from None


def rules_source(env: Mapping[str, str], config_path: str | None, inline: object) -> RulesSource:
    """PORTRAIT_RULES wins; then a ``rules:`` key in the config file; then the default pack."""
    path = env.get("PORTRAIT_RULES") or None
    if path is not None:
        return RulesSource(path)
    if config_path is not None and inline is not None:
        return RulesSource(config_path, inline=True)
    return RulesSource()


def _config_text(path: str) -> str:
    """The config file's text, whose ``rules:`` key holds the rules (read with their line and
    column, as a rules file is)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"PORTRAIT_CONFIG {path} is not UTF-8 text") from None
