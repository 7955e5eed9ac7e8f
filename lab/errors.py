"""Errors that are the user's to fix: printed as one line naming file, key or field."""


class UserError(Exception):
    """Bad input from the user (file, key, value); the CLI prints it without a traceback."""


CONFIGURATION_ERROR = 2
"""Exit code of a command stopped by a UserError (a configuration error): nothing was run."""
