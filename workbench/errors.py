"""The one error type for bad input: its message is the one line a user sees."""


class UserError(Exception):
    """Bad input from the user: a one-line message naming the problem and the fix."""

    def __init__(self, message: str, *, traceback: str | None = None):
        super().__init__(message)
        self.message = message
        self.traceback = traceback


class StopRun(BaseException):
    """Raised in the runner child's main thread to end a run early (a stop, a limit).

    Not an ``Exception``, so that user code catching ``Exception`` does not swallow it.
    """
