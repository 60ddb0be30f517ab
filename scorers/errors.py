"""Typed errors. A `UserError` is the user's to fix: the CLI prints its one line and exits 1."""


class UserError(Exception):
    """Something the user can fix (bad config, bad path, bad model). The message says how."""


class ConfigError(UserError):
    """A configuration value or combination is invalid."""


class InputError(UserError):
    """An input path, file or table is missing or unusable."""


class AccountingError(RuntimeError):
    """A stage's counts do not add up (in != kept + dropped + rejected): a bug, never ignored."""


class UpstreamChangedError(UserError):
    """A stage read other documents than its upstream stage recorded keeping: that stage's
    published outputs changed after it finished. One line, no retry: verify the run."""
