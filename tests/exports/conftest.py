"""Helpers for export tests: read a produced file back the way a user's spreadsheet program would."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from openpyxl import load_workbook

BOM = b"\xef\xbb\xbf"


def read_rows(data: bytes, fmt: str) -> list[list]:
    """Every row of the file, header first: openpyxl for xlsx, the csv module (UTF-8 with BOM) for csv."""
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        # Empty cells are not written, so a row may end early, as in any spreadsheet.
        width = len(rows[0]) if rows else 0
        return [row + [None] * (width - len(row)) for row in rows]
    assert data.startswith(BOM), "the CSV must start with a UTF-8 byte order mark"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_job(job) -> list[list]:
    job.refresh_from_db()
    with job.file.open("rb") as handle:
        return read_rows(handle.read(), job.format)


def as_dicts(rows: list[list]) -> list[dict]:
    header, *body = rows
    return [dict(zip(header, row, strict=False)) for row in body]


@pytest.fixture
def grant():
    """``grant(user, "customers.export_customer")``: the user, re-read so his permission cache is fresh."""

    def give(user, *perms):
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return get_user_model().objects.get(pk=user.pk)

    return give
