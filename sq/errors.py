class CommandError(RuntimeError):
    """A command could not do what was asked; the message says what to do next."""
