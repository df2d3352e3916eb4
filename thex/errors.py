"""The base of every error a user can cause (bad config, bad file, bad program text).

The command line prints these as one line naming the key, file or value, without a
traceback; anything else is a bug and keeps its traceback.
"""


class ThexError(Exception):
    """An error in the user's input; its message says what and where."""
