"""The one exception type the CLI turns into a clear error line and exit code 2."""


class BenchmarkError(Exception):
    """A user-facing error: bad input (spec, dataset, archive, N/K/Q, checkpoint, store).

    The message is one line that names the problem; the CLI prints it as
    ``error: <message>`` on stderr and exits with code 2, without a traceback.
    """
