#!/usr/bin/env bash
# Rebuilds the spreadsheet fixtures of the import tests with LibreOffice Calc, so that the tests read files
# written by a real office suite and not only by openpyxl. The produced files are committed: CI has no
# LibreOffice, and needs none. Run it again after changing a source, and commit what it writes.
#
#   apt-get install -y --no-install-recommends libreoffice-calc-nogui
#   tests/imports/files/make_files.sh
#
# Writes, next to this script:
#   customers.xls, customers.xlsx  src/customers.csv (UTF-8) opened in Calc and saved as Excel 97 / 2007+:
#                                  a title row and blank rows above and between the customers, mobiles
#                                  as numbers, landlines as text keeping their leading 0, dates as date cells
#   merged_sheets.xls              two sheets (instructions, then 客户) with companies merged down over
#                                  their people; built from an .xlsx written by openpyxl, as a CSV has
#                                  neither sheets nor merged cells
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd -P)"
PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
command -v soffice >/dev/null || { echo "make_files.sh: soffice not found; install libreoffice-calc-nogui" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# A profile of our own: a running LibreOffice (or its lock file) elsewhere would make conversions fail
# silently, and nothing of ours is left in the user's home.
soffice_convert() {  # soffice_convert FORMAT[:FILTER] [INFILTER] SOURCE
    local target="$1" infilter="$2" source="$3"
    HOME="$WORK/home" soffice --headless --norestore -env:UserInstallation="file://$WORK/profile" \
        ${infilter:+--infilter="$infilter"} --convert-to "$target" --outdir "$HERE" "$source" >/dev/null 2> >(grep -v javaldx >&2)
}

# CSV import options (LibreOffice's "Filter Options" token string):
#   44 = comma separated, 34 = '"' quotes, 76 = UTF-8, 1 = start at line 1,
#   4/2 = column 4 (座机) as Text (format 2), so 02161234567 keeps its 0; other columns Standard, so
#         mobiles become numbers and ISO dates become date cells,
#   2052 = zh-CN locale, false = quoted fields are not forced to text, true = detect dates and numbers.
CSV_UTF8="CSV:44,34,76,1,4/2,2052,false,true"
soffice_convert "xls:MS Excel 97" "$CSV_UTF8" "$HERE/src/customers.csv"
soffice_convert "xlsx:Calc MS Excel 2007 XML" "$CSV_UTF8" "$HERE/src/customers.csv"

"$PYTHON" - "$WORK/merged_sheets.xlsx" <<'PY'
import sys

import openpyxl

workbook = openpyxl.Workbook()
workbook.active.title = "填写说明"
workbook.active.append(["请在“客户”工作表填写，每行一位客户；同一公司的人可合并公司单元格。"])
sheet = workbook.create_sheet("客户")
for row in [["公司", "姓名", "手机"], ["上海甲科技有限公司", "张三", "13812345678"], [None, "李四", "13912345678"],
            [None, "王五", "13700001111"], ["杭州乙贸易有限公司", "赵六", "13600002222"]]:
    sheet.append(row)
sheet.merge_cells("A2:A4")
workbook.save(sys.argv[1])
PY
soffice_convert "xls:MS Excel 97" "" "$WORK/merged_sheets.xlsx"

ls -l "$HERE"/*.xls "$HERE"/*.xlsx
