"""Exception types raised by tpulint's library code (the CLI maps them to exit status 2)."""

from __future__ import annotations


class TpulintError(Exception):
    """Base class of every error tpulint raises on purpose."""


class ModelError(TpulintError):
    """The file is not a usable TFLite model (unreadable, not a flatbuffer, corrupt, out-of-range index)."""


class RulesError(TpulintError):
    """A rules/*.toml file or a configuration is invalid; the message names the file and the key."""


class UsageError(TpulintError):
    """An option value given by the user is invalid."""
