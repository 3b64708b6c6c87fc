"""Exceptions segzoo raises. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class SegzooError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class UnknownNameError(SegzooError, KeyError):
    """A name is not registered; the message lists the closest known names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class NameClashError(SegzooError):
    """Two plugins registered the same name without ``override=True``."""


class PluginError(SegzooError):
    """A plugin's registered code cannot be used, e.g. its lazy factory ``"package.module:function"`` does not
    import; the message names the plugin's package."""


class PluginNotInstalledError(SegzooError):
    """A catalog entry needs an architecture or converter whose plugin is not installed, is broken or is disabled;
    the message says which, and what to do (``pip install``, ``segzoo plugins``, the variable that disabled it)."""


class ConfigurationError(SegzooError, ValueError):
    """A model or encoder cannot be built with the options given."""


class UnknownOptionError(SegzooError, TypeError):
    """An architecture, encoder or loss was given an option it does not take; the message lists its options and the
    closest one. A TypeError, as Python's own for an unexpected keyword argument."""


class CatalogError(SegzooError):
    """A registry.json file (or a plugin's catalog entry) does not follow the schema."""


class WeightsError(SegzooError):
    """Weights could not be obtained or loaded."""


class WeightsNotCachedError(WeightsError):
    """Offline mode is on and the weights are not in the local cache."""


class WeightsIntegrityError(WeightsError):
    """The downloaded file's sha256 differs from the catalog's; the file was deleted."""
