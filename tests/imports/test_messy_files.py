"""Customer lists as people really keep them: title rows, blank rows, merged cells, several sheets, numbers
where text was meant, full-width characters, stray spaces, dates as serials, CSV in every encoding Chinese
Excel writes, and .xls / .xlsx written by LibreOffice (tests/imports/files/, rebuilt by make_files.sh).

Each test uploads a real file, runs it to the preview as the worker would, and commits it where the
customers written are the point."""

import codecs
import datetime

import openpyxl
import pytest

from customers.choices import CustomFieldType
from customers.models import Customer
from tests.factories import CustomFieldDefinitionFactory

from .conftest import FILES, commit, run_to_preview, xlsx_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english", "either_reader")]


def imported(actor, content, name="客户名单.xlsx", **choices):
    """Upload, check and commit the file's valid rows; the job as it ends."""
    job = run_to_preview(actor, content, name, skip_invalid=True, **choices)
    assert job.status == "validated", job.error
    return commit(actor, job)


def customer(name) -> Customer:
    return Customer.objects.get(name=name)


def mapped(job) -> dict[str, str]:
    """Header → field, as the mapping page proposes it."""
    return {job.headers[int(col)]: field for col, field in job.mapping.items()}


def problems(job) -> dict[int, list[tuple[str, str]]]:
    """Row number → [(column, message)] of the rows the preview marks invalid."""
    return {
        row.row_number: [(e["column"], e["message"]) for e in row.errors]
        for row in job.rows.filter(action="invalid").order_by("row_number")
    }


# ------------------------------------------------------------------------------------ layout of the sheet


def test_a_title_row_and_blank_rows_are_passed_over_and_rows_keep_the_numbers_excel_shows(admin_user):
    # given a list with a title row, a blank row under it, and blank rows between and after the customers
    content = xlsx_bytes([
        ["2026年华东区客户名单"],
        [],
        ["姓名", "公司", "手机号码"],
        ["张三", "上海甲科技有限公司", "13812345678"],
        [],
        [None, None, None],
        ["李四", "杭州乙贸易有限公司", "13912345678"],
        ["王五", "", "不是号码"],
        [],
    ])
    # when it is read
    job = run_to_preview(admin_user, content, skip_invalid=True)
    # then row 3 is the header, the two customers are the rows counted, blank rows are not rows at all
    assert job.header_row == 3
    assert job.headers == ["姓名", "公司", "手机号码"]
    assert job.counts["create"] == 2 and job.counts["invalid"] == 1 and job.total_rows == 3
    assert [(r.row_number, r.action) for r in job.rows.order_by("row_number")] == [
        (4, "create"), (7, "create"), (8, "invalid")]
    # and a problem names the row as Excel numbers it
    assert problems(job) == {8: [("手机号码", "不是号码 is not a valid phone number.")]}
    commit(admin_user, job)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["张三", "李四"]


def test_a_table_starting_lower_down_and_further_right_keeps_excel_row_numbers_and_columns(admin_user):
    # given a sheet whose table starts at C4, with columns A and B and rows 1-3 empty
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row, values in enumerate([["姓名", "手机"], ["张三", "13812345678"], ["李四", "12345"]], start=4):
        for column, value in enumerate(values, start=3):
            sheet.cell(row=row, column=column, value=value)
    content = _save(workbook)
    # when it is read
    job = run_to_preview(admin_user, content, skip_invalid=True)
    # then the header is row 4, the mapping points at columns C and D, and a problem names row 6
    assert job.header_row == 4
    assert mapped(job) == {"姓名": "name", "手机": "mobile"}
    assert problems(job) == {6: [("手机", "12345 is not a valid phone number.")]}
    commit(admin_user, job)
    assert str(customer("张三").mobile) == "+8613812345678"


def test_a_title_merged_across_the_table_does_not_hide_the_header_row(admin_user):
    content = xlsx_bytes(
        [["客户名单（2026年3月）", None, None], ["姓名", "公司", "手机"], ["张三", "甲公司", "13812345678"]],
        merge=["A1:C1"],
    )
    job = imported(admin_user, content)
    assert job.header_row == 2
    assert customer("张三").company == "甲公司"


def test_a_company_merged_down_over_several_rows_applies_to_each_of_them(admin_user):
    # given a list where the company is written once, merged down over its three people
    content = xlsx_bytes(
        [
            ["公司", "姓名", "手机"],
            ["上海甲科技有限公司", "张三", "13812345678"],
            [None, "李四", "13912345678"],
            [None, "王五", "13700001111"],
            ["杭州乙贸易有限公司", "赵六", "13600002222"],
            [None, "钱七", "13500003333"],
        ],
        merge=["A2:A4", "A5:A6"],
    )
    # when it is imported
    imported(admin_user, content)
    # then every person carries the company their merged cell shows
    companies = dict(Customer.objects.values_list("name", "company"))
    assert companies == {"张三": "上海甲科技有限公司", "李四": "上海甲科技有限公司", "王五": "上海甲科技有限公司",
                         "赵六": "杭州乙贸易有限公司", "钱七": "杭州乙贸易有限公司"}


def test_a_value_merged_across_columns_of_a_customer_row_applies_to_each_column(admin_user):
    # given 北京, both province and city, written once across the two columns
    content = xlsx_bytes([["姓名", "手机", "省", "市"], ["张三", "13812345678", "北京", None]], merge=["C2:D2"])
    imported(admin_user, content)
    assert (customer("张三").province, customer("张三").city) == ("北京市", "北京")


def test_group_headings_merged_above_the_header_row_are_not_taken_for_it(admin_user):
    # given a formal template: a title, a band of group headings merged over their columns, then the header
    content = xlsx_bytes(
        [["2026年客户信息登记表"], ["基本信息", None, "联系方式", None, None],
         ["客户名称", "公司", "手机", "电话", "邮箱"], ["张三", "甲公司", "13812345678", "", "zs@example.com"]],
        merge=["A1:E1", "A2:B2", "C2:E2"],
    )
    job = imported(admin_user, content)
    assert job.header_row == 3
    assert customer("张三").email == "zs@example.com"


def test_the_second_of_several_sheets_can_be_chosen(admin_user):
    # given a workbook whose first sheet explains how to fill in the second, and a third sheet of old data
    content = xlsx_bytes(
        [["填写说明"], ["请在“客户”工作表填写，每行一位客户。"]],
        sheet="说明",
        more_sheets={"客户": [["姓名", "手机"], ["张三", "13812345678"], ["李四", "13912345678"]],
                     "2025年": [["姓名", "手机"], ["旧客户", "13700001111"]]},
    )
    # when the importer chooses the sheet 客户
    job = run_to_preview(admin_user, content, sheet="客户")
    # then the sheets were offered in the workbook's order, and the customers of 客户 are the ones read
    assert job.sheets == ["说明", "客户", "2025年"]
    assert job.sheet == "客户" and job.header_row == 1
    commit(admin_user, job)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["张三", "李四"]


def test_hidden_sheets_are_not_offered(admin_user):
    workbook = openpyxl.Workbook()
    workbook.active.title = "客户"
    workbook.active.append(["姓名", "手机"])
    workbook.create_sheet("辅助数据").sheet_state = "hidden"
    job = run_to_preview(admin_user, _save(workbook))
    assert job.sheets == ["客户"]


# ------------------------------------------------------------------------------------------------- headers


@pytest.mark.parametrize("headers", [
    ["姓名", "公司", "手机", "电话", "邮箱", "地址", "省", "市", "区", "备注", "职位"],
    ["联系人", "公司名称", "手机号", "座机", "电子邮件", "地址", "省", "市", "区", "备注", "职位"],
    ["客户名称", "单位", "手机号码", "电话", "邮箱", "地址", "省份", "城市", "区县", "备注", "职务"],
    ["Name", "Company", "Mobile", "Phone", "Email", "Address", "Province", "City", "District", "Notes", "Title"],
    ["name", "COMPANY NAME", "Mobile Phone", "Tel", "E-mail", "Street Address", "State", "city", "County", "Remarks",
     "Job Title"],
])
def test_chinese_and_english_headers_are_recognised(admin_user, headers):
    # given a list whose headers are one of the spellings people use
    content = xlsx_bytes([headers, ["张三", "上海甲科技有限公司", "13812345678", "021-61234567", "zs@example.com",
                                    "世纪大道100号", "上海", "上海市", "浦东新区", "老客户", "采购经理"]])
    # when it is imported without touching the proposed mapping
    imported(admin_user, content)
    # then every value landed in its field
    zs = customer("张三")
    assert (zs.company, str(zs.mobile), str(zs.phone), zs.email) == (
        "上海甲科技有限公司", "+8613812345678", "+862161234567", "zs@example.com")
    assert (zs.address, zs.province, zs.city, zs.district) == ("世纪大道100号", "上海市", "上海市", "浦东新区")
    assert (zs.notes, zs.title) == ("老客户", "采购经理")


def test_compound_and_decorated_headers_are_recognised_by_the_word_that_names_the_thing(admin_user):
    # given headers written as people write them: "whose" + "what", required marks, punctuation
    headers = ["客户姓名（必填）", "联系人手机", "公司地址", "单位地址", "*Email", "Mobile No.", "办公电话"]
    content = xlsx_bytes([headers, ["张三", "13812345678", "世纪大道100号", "", "zs@example.com", "", "021-61234567"]])
    # when it is read
    job = run_to_preview(admin_user, content)
    # then each header names its field; the second address column is left for the importer to decide
    assert mapped(job) == {"客户姓名(必填)": "name", "联系人手机": "mobile", "公司地址": "address",
                           "*Email": "email", "办公电话": "phone"}
    commit(admin_user, job)
    zs = customer("张三")
    assert (str(zs.mobile), zs.address, zs.email, str(zs.phone)) == (
        "+8613812345678", "世纪大道100号", "zs@example.com", "+862161234567")


def test_a_custom_field_is_recognised_by_its_chinese_or_english_label(admin_user):
    CustomFieldDefinitionFactory(key="budget", label="年度预算", label_en="Annual budget",
                                 field_type=CustomFieldType.NUMBER)
    CustomFieldDefinitionFactory(key="wechat", label="微信号", field_type=CustomFieldType.TEXT)
    content = xlsx_bytes([["姓名", "手机", "Annual Budget", "微信号"], ["张三", "13812345678", 120000, "zhangsan_wx"]])
    job = imported(admin_user, content)
    assert mapped(job)["Annual Budget"] == "custom.budget" and mapped(job)["微信号"] == "custom.wechat"
    assert customer("张三").custom == {"budget": 120000, "wechat": "zhangsan_wx"}


def test_a_number_beyond_64_bits_in_a_custom_field_is_kept(admin_user):
    CustomFieldDefinitionFactory(key="budget", label="年预算", label_en="Annual Budget",
                                 field_type=CustomFieldType.NUMBER)
    content = xlsx_bytes([["姓名", "手机", "年预算"], ["张三", "13812345678", 1e30]])
    imported(admin_user, content)
    assert customer("张三").custom == {"budget": int(1e30)}  # the double Excel stores, whole


# ------------------------------------------------------------------------------------- numbers and text


def test_phones_stored_as_numbers_are_read_as_the_digits_typed(admin_user):
    # given mobiles typed as numbers (one shown by Excel as 1.38E+10), and a landline whose leading 0 Excel dropped
    content = xlsx_bytes(
        [["姓名", "手机", "电话", "备注"],
         ["张三", 13812345678, 2161234567, 20240105],
         ["李四", 13912345678.0, None, 3.5]],
        number_formats={"B3": "0.00E+00"},
    )
    # when they are imported
    imported(admin_user, content)
    # then the numbers are the phone numbers a person reads, and a number in a text column loses no digit
    zs, ls = customer("张三"), customer("李四")
    assert (str(zs.mobile), str(zs.phone), zs.notes) == ("+8613812345678", "+862161234567", "20240105")
    assert (str(ls.mobile), ls.notes) == ("+8613912345678", "3.5")


@pytest.mark.parametrize("name, content", [
    ("客户名单.xlsx", xlsx_bytes([["姓名", "手机号码"], ["张三", "13812345678"], ["李四", "1.38123E+10"]])),
    ("客户名单.csv", "姓名,手机号码\r\n张三,13812345678\r\n李四,1.38123E+10\r\n".encode()),
], ids=["xlsx", "csv"])
def test_a_mobile_written_in_scientific_notation_is_a_problem_of_its_row_and_nothing_is_invented(
    admin_user, name, content
):
    # given a list saved by Excel with a mobile shown (and so written) as 1.38123E+10
    # when it is read
    job = run_to_preview(admin_user, content, name, skip_invalid=True)
    # then that row is rejected, naming its row, its column and why its digits are gone
    [(column, message)] = problems(job)[3]
    assert column == "手机号码"
    assert message.startswith("1.38123E+10 is a number in scientific notation; its last digits were lost")
    # and importing the rest creates no customer with a made-up number
    commit(admin_user, job)
    assert list(Customer.objects.values_list("name", flat=True)) == ["张三"]


def test_full_width_digits_letters_and_punctuation_are_read_as_their_ascii_forms(admin_user):
    # given values typed with a Chinese input method left in full-width mode
    content = xlsx_bytes([
        ["姓名", "公司", "手机", "电话", "邮箱", "客户等级"],
        ["张三", "ＡＢＣ科技", "１３８１２３４５６７８", "（０２１）６１２３－４５６７",
         "ＺＳ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "Ａ"],
    ])
    # when they are imported
    imported(admin_user, content)
    # then they are the ordinary digits, letters and signs they stand for
    zs = customer("张三")
    assert (zs.company, str(zs.mobile), str(zs.phone), zs.email, zs.level) == (
        "ABC科技", "+8613812345678", "+862161234567", "zs@example.com", "A")


def test_stray_spaces_around_and_inside_values_and_headers_are_tidied(admin_user):
    # given spaces, tabs, line breaks, non-breaking and ideographic spaces where nobody meant them
    content = xlsx_bytes([
        [" 姓名 ", "公司\n名称", "手机号码 ", "\t邮箱"],
        ["  张三 ", "上海甲科技\u00a0 有限公司", " 138 1234 5678 ", " zs@example.com\u3000"],
        ["李四\t", " 乙公司", "139-1234-5678\n", "LISI@EXAMPLE.COM "],
    ])
    # when they are imported
    job = imported(admin_user, content)
    # then headers and values read as a person reads them
    assert mapped(job) == {"姓名": "name", "公司 名称": "company", "手机号码": "mobile", "邮箱": "email"}
    zs, ls = customer("张三"), customer("李四")
    assert (zs.company, str(zs.mobile), zs.email) == ("上海甲科技 有限公司", "+8613812345678", "zs@example.com")
    assert (ls.company, str(ls.mobile), ls.email) == ("乙公司", "+8613912345678", "lisi@example.com")


def test_invisible_characters_pasted_from_web_pages_are_dropped(admin_user):
    # given values copied from a web page or a chat, carrying zero-width spaces and a stray byte order mark
    content = xlsx_bytes([["姓名", "手机", "邮箱"], ["\u200b张三\ufeff", "13812345678\u200b", "zs@\u200bexample.com"]])
    # when they are imported
    imported(admin_user, content)
    # then the invisible characters are gone and the values are valid
    zs = Customer.objects.get()
    assert (zs.name, str(zs.mobile), zs.email) == ("张三", "+8613812345678", "zs@example.com")


@pytest.mark.parametrize("name, content", [
    ("客户名单.csv", "姓名,手机\r\n张三,13812345678\r\n  , \r\n李四,13912345678\r\n".encode()),
    ("客户名单.xlsx", xlsx_bytes([["姓名", "手机"], ["张三", "13812345678"], ["\u3000", "\u3000 "],
                                  ["李四", "13912345678"]])),
], ids=["csv", "xlsx"])
def test_a_row_holding_only_spaces_is_a_blank_row(admin_user, name, content):
    # given a list with a row whose cells hold nothing but spaces
    # when it is read
    job = run_to_preview(admin_user, content, name)
    # then that row is passed over like any blank row, not rejected for having no name
    assert job.counts["create"] == 2 and job.counts["invalid"] == 0


# ---------------------------------------------------------------------------------------------------- dates


def test_dates_reach_a_custom_date_field_from_date_cells_serials_and_written_dates(admin_user):
    # given a custom date field and a list giving it as a date cell, a date-time cell, an Excel serial
    # number, a serial that went through a CSV as text, and dates written in the usual Chinese ways
    CustomFieldDefinitionFactory(key="signed_on", label="签约日期", field_type=CustomFieldType.DATE)
    given = [
        ("日期单元格", datetime.date(2024, 1, 5)),
        ("日期时间", datetime.datetime(2024, 1, 5, 14, 30)),  # noqa: DTZ001 (a cell has no time zone)
        ("序列号", 45296),
        ("文本序列号", "45296"),
        ("斜杠", "2024/1/5"),
        ("中文", "2024年1月5日"),
        ("点号", "2024.01.05"),
        ("八位数", "20240105"),
    ]
    content = xlsx_bytes([["姓名", "手机", "签约日期"]]
                         + [[name, f"1381234{i:04d}", value] for i, (name, value) in enumerate(given)])
    # when it is imported
    imported(admin_user, content)
    # then every customer has the same date, as Excel showed it
    assert {c.name: c.custom.get("signed_on") for c in Customer.objects.all()} == {
        name: "2024-01-05" for name, _value in given}


def test_a_date_nobody_can_read_is_a_problem_naming_row_column_and_the_expected_form(admin_user):
    CustomFieldDefinitionFactory(key="signed_on", label="签约日期", field_type=CustomFieldType.DATE)
    content = xlsx_bytes([["姓名", "手机", "签约日期"], ["张三", "13812345678", "下周一"],
                          ["李四", "13912345678", "2024-02-30"]])
    job = run_to_preview(admin_user, content)
    assert problems(job) == {
        2: [("签约日期", "下周一 is not a date; write it as 2024-01-31.")],
        3: [("签约日期", "2024-02-30 is not a date; write it as 2024-01-31.")],
    }


def test_a_date_cell_in_a_text_column_reads_as_the_date_shown(admin_user):
    content = xlsx_bytes([["姓名", "手机", "备注"], ["张三", "13812345678", datetime.date(2024, 1, 5)]])
    imported(admin_user, content)
    assert customer("张三").notes == "2024-01-05"


# ------------------------------------------------------------------------------------------------------ CSV

CSV_TEXT = ("姓名,公司,手机号码,地址\r\n"
            "张三,上海甲科技有限公司,13812345678,世纪大道100号\r\n"
            "𠮷田,吉野家（中国）,13912345678,\r\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_files_are_read_in_the_encodings_chinese_excel_and_wps_write(admin_user, encoding):
    # given the same list saved as CSV UTF-8, CSV UTF-8 with BOM (Excel's "CSV UTF-8"), GBK (Excel's plain
    # "CSV" on Chinese Windows) and GB18030 (which, unlike GBK, also has 𠮷)
    text = CSV_TEXT if encoding != "gbk" else CSV_TEXT.replace("𠮷", "吉")
    content = codecs.encode(text, encoding)
    # when it is imported
    job = imported(admin_user, content, "客户名单.csv")
    # then the headers and the Chinese text come out as written
    assert job.file_type == "csv" and job.headers == ["姓名", "公司", "手机号码", "地址"]
    assert dict(Customer.objects.values_list("name", "company")) == {
        "张三": "上海甲科技有限公司", text.split("\r\n")[2].split(",")[0]: "吉野家(中国)"}


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_csv_with_semicolons_tabs_or_commas_is_split_into_its_columns(admin_user, delimiter):
    # given a CSV whose address holds the other separators, quoted as Excel quotes it
    rows = [["姓名", "手机号码", "地址", "备注"],
            ["张三", "13812345678", '"浦东新区; 世纪大道100号, 3楼"', '"第一行\r\n第二行"'],
            ["李四", "13912345678", "", ""]]
    content = "\r\n".join(delimiter.join(row) for row in rows).encode()
    # when it is imported
    job = imported(admin_user, content, "客户名单.csv")
    # then every column is where it belongs
    assert mapped(job) == {"姓名": "name", "手机号码": "mobile", "地址": "address", "备注": "notes"}
    zs = customer("张三")
    assert (str(zs.mobile), zs.address, zs.notes) == ("+8613812345678", "浦东新区; 世纪大道100号, 3楼", "第一行 第二行")


def test_a_csv_with_a_title_line_and_blank_lines_finds_its_header_and_counts_lines_as_excel_does(admin_user):
    content = "客户名单\r\n\r\n姓名,手机号码\r\n张三,13812345678\r\n,\r\n李四,139\r\n".encode("gbk")
    job = run_to_preview(admin_user, content, "客户名单.csv")
    assert job.header_row == 3
    assert job.counts["create"] == 1
    assert problems(job) == {6: [("手机号码", "139 is not a valid phone number.")]}


# ------------------------------------------------------------------------------- files written by LibreOffice


def _fixture(name: str) -> bytes:
    return (FILES / name).read_bytes()


@pytest.mark.parametrize("name", ["customers.xls", "customers.xlsx"])
def test_a_list_saved_by_libreoffice_as_xls_or_xlsx_is_imported(admin_user, name):
    # given the list in src/customers.csv saved by LibreOffice Calc: a title row, blank rows, mobiles as
    # numbers, landlines as text with their leading 0, signing dates as date cells
    CustomFieldDefinitionFactory(key="signed_on", label="签约日期", field_type=CustomFieldType.DATE)
    # when it is imported
    job = imported(admin_user, _fixture(name), f"客户名单.{name.split('.')[1]}")
    # then it was read as the kind of file it is, its header found under the title, every customer written
    assert job.file_type == name.split(".")[1]
    assert job.header_row == 3 and job.counts["create"] == 3
    zs, ls, ww = customer("张三"), customer("李四"), customer("王五")
    assert (zs.company, str(zs.mobile), str(zs.phone), zs.email) == (
        "上海甲科技有限公司", "+8613812345678", "+862161234567", "zhangsan@example.com")
    assert (zs.province, zs.city, zs.address, zs.notes) == ("上海市", "上海市", "浦东新区世纪大道100号", "老客户")
    assert (str(ls.phone), ls.address, ls.province) == ("+8657187654321", "西湖区文三路1号, 3楼", "浙江省")
    assert (ww.company, ww.notes) == ("", "个人客户")
    assert {c.name: c.custom["signed_on"] for c in (zs, ls, ww)} == {
        "张三": "2024-01-05", "李四": "2024-03-15", "王五": "2023-12-31"}


def test_an_xls_with_merged_cells_on_its_second_sheet_is_imported(admin_user):
    # given an .xls saved by LibreOffice: instructions on the first sheet, the list on 客户 with merged companies
    # when the importer picks the sheet 客户
    job = run_to_preview(admin_user, _fixture("merged_sheets.xls"), "客户名单.xls", sheet="客户")
    commit(admin_user, job)
    # then each person carries the company of its merged cell
    assert job.sheets == ["填写说明", "客户"]
    assert dict(Customer.objects.values_list("name", "company")) == {
        "张三": "上海甲科技有限公司", "李四": "上海甲科技有限公司", "王五": "上海甲科技有限公司",
        "赵六": "杭州乙贸易有限公司"}


@pytest.mark.parametrize("fixture, file_type", [("customers.xls", "xls"), ("customers.xlsx", "xlsx")])
def test_the_file_type_is_taken_from_the_content_not_the_name(admin_user, fixture, file_type):
    # given a workbook whose name says otherwise (an .xls someone renamed .xlsx, an .xlsx renamed .csv)
    wrong_name = "客户名单.xlsx" if file_type == "xls" else "客户名单.csv"
    # when it is imported
    job = imported(admin_user, _fixture(fixture), wrong_name)
    # then it is read as what it is
    assert job.file_type == file_type and job.counts["create"] == 3


def test_a_csv_named_xlsx_is_read_as_csv(admin_user):
    job = imported(admin_user, "姓名,手机号码\r\n张三,13812345678\r\n".encode("gbk"), "客户名单.xlsx")
    assert job.file_type == "csv"
    assert str(customer("张三").mobile) == "+8613812345678"


def _save(workbook) -> bytes:
    import io

    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
