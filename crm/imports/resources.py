"""What can be imported: one Resource per kind of record, registered by its module.

A resource names its fields (with the header spellings people use for them, in Chinese and English),
cleans one row into field values, and writes validated rows to its tables in bulk (see
customers/resources.py). The job machinery in crm.imports.services is the same for every resource.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from crm import fieldcrypto
from crm.audit.history import ENCRYPTED
from crm.web.templatetags.crm_tags import masked

_REGISTRY: dict[str, "Resource"] = {}


@dataclass
class Field:
    name: str  # key in ImportRow.data
    label: str  # shown on the mapping page
    aliases: list[str] = field(default_factory=list)  # header spellings, any language
    clean: Callable = None  # cell -> value, raises cells.CellError
    required: bool = False
    sensitive: bool = False  # an encrypted custom field: its cells are kept sealed, also in the error report's copy


class Resource:
    key: str = ""  # "customers.customer"
    table: str = ""  # the table its rows are written to
    label: str = ""
    permission: str = ""  # what the importer needs, besides being logged in
    # False for records that follow another record's owner (a contact follows its customer): the mapping page
    # then hides the owner options, and the resource ignores the job's owner settings.
    has_owner: bool = True
    # Shown on the mapping page beside the duplicate choices: what makes a row the same as a record.
    duplicate_rule: str = ""
    # What undo does with the records the job created: to the recycle bin (True), or deleted.
    undo_bins_created: bool = True

    def fields(self) -> list[Field]:
        raise NotImplementedError

    def check_signature(self, job) -> str:
        """What else the cleaning of the job's rows depends on (custom field definitions, the users a column may
        name as owner), as text: checked rows are re-used only while it stays the same."""
        return ""

    def prepare(self, job) -> dict:
        """What every row of the job needs from the database, read once: the context of clean_row."""
        raise NotImplementedError

    def clean_row(self, values: dict, job, context: dict) -> tuple[dict, list[tuple[str, str]]]:
        """(data, [(field name, message)]) for one row's mapped cells ``values`` (field name → cell).

        Runs while the checked rows stream into a COPY on the database connection: it may not query the
        database (crm.imports.services refuses any query then); read what it needs in prepare()."""
        raise NotImplementedError

    def keys(self, data: dict) -> tuple[str, str, str]:
        """(mobile, email, name) keys that identify the same record twice; "" where the row has none."""
        raise NotImplementedError

    def match_existing(self, cursor, job) -> None:
        """Set ImportRow.object_id of rows that match an existing record."""
        raise NotImplementedError

    def commit(self, cursor, job, part=None) -> None:
        """Write the job's checked rows. With ``part`` (crm.imports.parts.Part, when commits_in_parts), only the
        new records of the part's rows, and the updates of existing ones in the first part; the ids of the new
        records are then allocated already."""
        raise NotImplementedError

    def commits_in_parts(self, job) -> bool:
        """Whether the job's commit may be split between connections (crm.imports.parts): no two parts may
        write the same row, or they would wait for each other."""
        return False

    def undo(self, cursor, job, actor) -> dict:
        raise NotImplementedError

    def display(self, name: str, value) -> str:
        """A cleaned value as the preview shows it; an encrypted one (a sensitive custom field) masked."""
        if fieldcrypto.is_envelope(value):
            try:
                return masked(fieldcrypto.open_envelope(value), False)
            except fieldcrypto.FieldCryptoError:
                return str(ENCRYPTED)
        if isinstance(value, list):
            return "、".join(map(str, value))
        return "" if value is None else str(value)

    def changed_since(self, cursor, job) -> int:
        """How many records the job wrote have been changed since it was committed."""
        raise NotImplementedError


def register(resource: Resource) -> None:
    _REGISTRY[resource.key] = resource


def get(key: str) -> Resource:
    return _REGISTRY[key]


def available(user) -> list[Resource]:
    return [r for r in _REGISTRY.values() if user.has_perm(r.permission)]


# ------------------------------------------------------------------------------------------- headers

# "手机号码（必填）", "*Email", "Mobile No." → the words that matter.
_NOISE = re.compile(r"[\s*＊:：.。_\-/\\()（）\[\]【】]|必填|选填|可选|required|optional")


def normalize_header(header) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", str(header or "")).lower())


def match_header(header, fields: list[Field]) -> str | None:
    """The field a header names: an exact spelling first; else the longest spelling the header ends with,
    since the last word names the thing in Chinese and English alike (联系人手机 is a mobile, 公司地址 an
    address); else the longest spelling it contains. None when nothing fits."""
    text = normalize_header(header)
    if not text:
        return None
    best, best_score = None, (0, 0)
    for f in fields:
        for alias in [f.name, str(f.label), *f.aliases]:
            spelled = normalize_header(alias)
            if not spelled:
                continue
            if spelled == text:
                return f.name
            if len(spelled) >= 2 and spelled in text:
                score = (1 if text.endswith(spelled) else 0, len(spelled))
                if score > best_score:
                    best, best_score = f.name, score
    return best


def propose_mapping(headers: list[str], fields: list[Field], remembered: dict[str, str]) -> dict[str, str]:
    """{column index as text: field name}: remembered template choices first, then recognised headers;
    each field is given to one column only (the first that names it)."""
    names = {f.name for f in fields}
    mapping, taken = {}, set()
    for index, header in enumerate(headers):
        name = remembered.get(normalize_header(header))
        if name is None:
            name = match_header(header, fields)
        if name and name in names and name not in taken:
            mapping[str(index)] = name
            taken.add(name)
    return mapping


def find_header_row(rows: list[tuple[int, list]], fields: list[Field]) -> int | None:
    """Index (in ``rows``) of the header row: the one naming most fields among the first rows, so that a
    title row above the headers ("2026年客户名单") or a blank row is passed over."""
    best, best_score = None, 0
    for index, (_, cells) in enumerate(rows):
        score = sum(1 for cell in cells if match_header(cell, fields))
        if score > best_score:
            best, best_score = index, score
    if best is not None:
        return best
    for index, (_, cells) in enumerate(rows):  # nothing recognised: the first row with several cells
        if sum(1 for cell in cells if str(cell or "").strip()) >= 2:
            return index
    return None
