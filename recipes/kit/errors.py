"""The one exception type for mistakes a user can fix."""


class UserError(Exception):
    """A failure the user caused or can fix: bad params, missing data, no network.

    Stages print its message as one line and exit non-zero; the message names
    the cause and the fix.
    """
