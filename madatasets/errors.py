"""Errors that mean "the user asked for something invalid".

The CLI turns these into a one-line message and exit code 2; anything else is a
bug and keeps its traceback.
"""


class MadataError(ValueError):
    """Invalid input from the user: unknown name, bad value, not a store."""


class ChecksumError(MadataError):
    """A stored array no longer matches the checksum in its dataset card."""
