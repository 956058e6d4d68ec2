"""A forked process that cleans a share of a job's rows while the worker cleans the rest.

Cleaning rows is Python, one core's work; the machine has two (PostgreSQL, storing the checked rows, needs less
than one). The helper is forked from the worker once the job's rows are ready to be read, so it has everything
the worker has (the resource's context, the shared strings of the workbook), and sends the COPY text of its rows
back through a pipe: only the worker talks to the database, and the rows go into the worker's one COPY and
transaction, as if it had cleaned them itself.

The helper touches nothing the worker holds open (no query: crm.imports.services refuses any during the COPY;
no cache), and leaves with os._exit, so that nothing of the worker's (its connections) is closed or flushed by
the copy of it. When the worker dies, the helper's next write to the pipe fails and it ends too.
"""

import ctypes
import os
import queue
import signal
import struct
import threading
from collections.abc import Callable, Iterator

from .files import FileProblem

_FRAME = struct.Struct("<qq")  # length of the text, rows in it (or one of the marks below)
_END, _PROBLEM, _FAILURE = -1, -2, -3


class Helper:
    """``produce()`` runs in a forked process; its (COPY text, row count) pairs come back through frames()."""

    def __init__(self, produce: Callable[[], Iterator[tuple[str, int]]]):
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the helper
            _cut_loose(write_end)
            _run(produce, write_end)
        os.close(write_end)
        self._reaped = False
        self._frames = queue.Queue()
        # A thread drains the pipe as the helper writes (reading releases the interpreter), so that the helper never
        # waits for the worker to be done with its own rows.
        self._reader = threading.Thread(target=self._drain, args=(read_end,), daemon=True, name="import-helper-pipe")
        self._reader.start()

    def ready(self) -> Iterator[tuple[bytes, int]]:
        """The frames the helper has sent so far."""
        while True:
            try:
                frame = self._frames.get_nowait()
            except queue.Empty:
                return
            if self._finished(frame):
                self._frames.put(frame)  # for rest() to see
                return
            yield frame

    def rest(self) -> Iterator[tuple[bytes, int]]:
        """Every frame still to come, until the helper is done."""
        while not self._finished(frame := self._frames.get()):
            yield frame
        self._wait()

    def stop(self) -> None:
        """End the helper, done or not (the worker gave up on the rows)."""
        if self._reaped:
            return  # its number may belong to another process by now
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._wait()

    def _finished(self, frame) -> bool:
        text, count = frame
        if count == _PROBLEM:
            raise FileProblem(text.decode())
        if count == _FAILURE:
            raise RuntimeError(f"the import's helper process failed: {text.decode()[-2000:]}")
        return count == _END

    def _drain(self, fd: int) -> None:
        # Whatever happens here, the worker waiting in rest() is told: the end, or a failure.
        try:
            with os.fdopen(fd, "rb") as pipe:
                while len(header := pipe.read(_FRAME.size)) == _FRAME.size:
                    length, count = _FRAME.unpack(header)
                    text = pipe.read(length) if length > 0 else b""
                    if len(text) != max(length, 0):
                        break
                    self._frames.put((text, count))
                    if count in (_END, _PROBLEM, _FAILURE):
                        return
        except Exception:  # noqa: BLE001, S110 - told below
            pass
        self._frames.put((b"the helper process stopped before it was done", _FAILURE))

    def _wait(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self._reaped = True


def _cut_loose(keep: int) -> None:
    """In the helper: hold none of the worker's files and connections but the pipe, so that the worker's database
    session ends with the worker, and end with the worker too."""
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed when the worker dies (Linux)
    except (OSError, AttributeError):
        pass  # elsewhere the helper ends at its next write to the pipe


def _run(produce, fd: int) -> None:
    status = 0
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as pipe:
            try:
                for text, count in produce():
                    data = text.encode()
                    pipe.write(_FRAME.pack(len(data), count) + data)
                pipe.write(_FRAME.pack(0, _END))
            except FileProblem as problem:
                message = str(problem).encode()
                pipe.write(_FRAME.pack(len(message), _PROBLEM) + message)
            except Exception as error:  # noqa: BLE001 - reported to the worker, which fails the job
                message = repr(error).encode()
                pipe.write(_FRAME.pack(len(message), _FAILURE) + message)
    except BaseException:  # noqa: BLE001 - the worker is gone (a broken pipe): nothing to tell anyone
        status = 1
    finally:
        os._exit(status)  # never return into the worker's code, nor close its connections
