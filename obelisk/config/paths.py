"""Path prefixes (``${DATA_DIR}``, ``${CACHE_DIR}``, ``${CONFIG_DIR}``) and relative-path resolution.

The directories are computed from an explicit environment mapping rather than the process environment, so a
test (or the NixOS module's check) can pin them without touching ``os.environ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_PREFIX = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
KNOWN_PREFIXES: tuple[str, ...] = ("DATA_DIR", "CACHE_DIR", "CONFIG_DIR")


class PathExpansionError(ValueError):
    """A path uses an unknown prefix, or a prefix whose directory cannot be determined."""


@dataclass(frozen=True)
class ConfigDirs:
    """The three per-user directories of the original, honouring the XDG base-directory variables.

    A field is ``None`` when neither the XDG variable nor ``HOME`` is set (e.g. a bare systemd unit); using the
    corresponding prefix is then an error that says which variable to set.
    """

    data_dir: Path | None
    cache_dir: Path | None
    config_dir: Path | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConfigDirs:
        home = env.get("HOME") or None

        def pick(xdg_var: str, home_relative: str) -> Path | None:
            xdg = env.get(xdg_var)
            if xdg and Path(xdg).is_absolute():  # the XDG spec says relative values are to be ignored
                return Path(xdg) / "obelisk"
            if home:
                return Path(home) / home_relative / "obelisk"
            return None

        return cls(
            data_dir=pick("XDG_DATA_HOME", ".local/share"),
            cache_dir=pick("XDG_CACHE_HOME", ".cache"),
            config_dir=pick("XDG_CONFIG_HOME", ".config"),
        )

    def lookup(self, prefix: str) -> Path:
        mapping = {"DATA_DIR": self.data_dir, "CACHE_DIR": self.cache_dir, "CONFIG_DIR": self.config_dir}
        if prefix not in mapping:
            raise PathExpansionError(
                f"unknown path prefix ${{{prefix}}}; known prefixes: " + ", ".join(f"${{{p}}}" for p in KNOWN_PREFIXES)
            )
        found = mapping[prefix]
        if found is None:
            xdg = {"DATA_DIR": "XDG_DATA_HOME", "CACHE_DIR": "XDG_CACHE_HOME", "CONFIG_DIR": "XDG_CONFIG_HOME"}
            raise PathExpansionError(
                f"cannot expand ${{{prefix}}}: neither {xdg[prefix]} nor HOME is set; "
                "set one of them or configure an absolute path"
            )
        return found


def expand_path(value: str | Path, dirs: ConfigDirs, base_dir: Path, home: str | None = None) -> Path:
    """Expand a leading prefix or ``~``, then anchor a relative result at ``base_dir``.

    ``base_dir`` is the directory of the config file that declared the value, so a config file can be moved
    together with the components next to it.
    """
    text = str(value)
    match = _PREFIX.match(text)
    if match:
        rest = text[match.end() :].lstrip("/")
        root = dirs.lookup(match.group(1))
        return root / rest if rest else root
    if text == "~" or text.startswith("~/"):
        if not home:
            raise PathExpansionError(f"cannot expand '~' in {text!r}: HOME is not set")
        return Path(home) / text[2:] if len(text) > 2 else Path(home)
    path = Path(text)
    return path if path.is_absolute() else base_dir / path
