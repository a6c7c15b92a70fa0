"""The one exception type the CLI turns into a one-line message and exit code 2."""


class CodeprmError(Exception):
    """Bad input or an unusable environment, explained in one line the user can act on."""
