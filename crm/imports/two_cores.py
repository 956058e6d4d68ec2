"""Checking a sheet's rows on two cores: a forked child cleans every other row while this process cleans the rest
and feeds both halves into the COPY (crm.imports.services._check_rows).

Cleaning is pure Python (one core); PostgreSQL stores the COPY on the other one but needs only part of it, so a
second cleaning process fills the machine: at 100,000 rows the check takes ~1.5 s less (bench/RESULTS.md,
"Import"). A fork rather than multiprocessing: Celery's prefork children are daemonic and may not start
multiprocessing children, and a fork shares the sheet python-calamine has loaded (it is only read) instead of
pickling rows across.

The child may not use anything the parent holds open: it never touches the database connection (clean_row may
not query, and the connection's wrapper refuses it, see services._no_query_during_copy), Redis or the log, and it
ends with os._exit so that no inherited cleanup runs. Workbooks only: a CSV is read through a file offset the two
processes would share.
"""

import os
import signal
from collections.abc import Callable, Iterator

CHUNK_BYTES = 1 << 16  # the child's lines go into the pipe in chunks of about this size
DRAIN_EVERY = 256  # rows this process cleans between two looks at the pipe


class ChildFailed(RuntimeError):
    pass


LineFor = Callable[[int, list, Iterator[int]], str | None]  # (row number, cells, ids) → a COPY line, or None


def lines_one_core(rows, line_for: LineFor, ids: list[int]) -> Iterator[tuple[bytes, int]]:
    """(COPY data, rows in it) for every row, in this process."""
    mine = iter(ids)
    for row_number, cells in rows:
        line = line_for(row_number, cells, mine)
        if line is not None:
            yield line.encode(), 1


def lines_two_cores(rows, line_for: LineFor, ids: list[int]) -> Iterator[tuple[bytes, int]]:
    """(COPY data, rows in it) for every row, half of them cleaned by a forked child; in no particular order (each
    line carries its row number). Closing the generator early stops the child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(rows, line_for, ids[1::2], write_end)  # never returns
    os.close(write_end)
    os.set_blocking(read_end, False)
    pending = b""  # the child's last incomplete line
    try:
        mine = iter(ids[0::2])
        for index, (row_number, cells) in enumerate(rows):
            if index % 2 == 0:
                line = line_for(row_number, cells, mine)
                if line is not None:
                    yield line.encode(), 1
            elif index % DRAIN_EVERY == 1:
                data, pending = _drain(read_end, pending, wait=False)
                if data:
                    yield data, data.count(b"\n")
        data, pending = _drain(read_end, pending, wait=True)
        if data:
            yield data, data.count(b"\n")
        _pid, status = os.waitpid(pid, 0)
        pid = 0
        if status != 0 or pending:
            raise ChildFailed(f"the second process checking rows ended with status {status}")
    finally:
        if pid:  # stopped early (superseded, cancelled, an error here): the child's work is not wanted
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(read_end)


def _drain(read_end: int, pending: bytes, *, wait: bool) -> tuple[bytes, bytes]:
    """The complete lines the child has written so far (all of them, up to its end, when ``wait``), and the rest."""
    if wait:
        os.set_blocking(read_end, True)
    parts = [pending]
    while True:
        try:
            chunk = os.read(read_end, 1 << 20)
        except BlockingIOError:
            break
        if not chunk:
            break
        parts.append(chunk)
    data = b"".join(parts)
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]


def _child(rows, line_for: LineFor, ids: list[int], write_end: int) -> None:
    # The worker's signal handlers (warm shutdown…) are not the child's business: it dies with a broken pipe when
    # its parent is gone, or by SIGKILL when it is no longer wanted.
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    code = 1
    try:
        mine = iter(ids)
        out, size = [], 0
        for index, (row_number, cells) in enumerate(rows):
            if index % 2 == 1:
                line = line_for(row_number, cells, mine)
                if line is not None:
                    out.append(line)
                    size += len(line)
                    if size >= CHUNK_BYTES:
                        _write_all(write_end, "".join(out).encode())
                        out, size = [], 0
        _write_all(write_end, "".join(out).encode())
        code = 0
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
