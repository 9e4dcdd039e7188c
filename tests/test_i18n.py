"""The gettext catalogues: well-formed, complete, current, and what the pages actually speak.

tests/conftest.py compiles the catalogues (pure Python, `compile_translations`) before any test
runs, so these tests see the .mo files the application uses.
"""

import ast
import functools
import gettext
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation.template import templatize

from accounts.models import Role
from contacts.forms import ContactForm
from tests.factories import ContactFactory, UserFactory

BASE_DIR = Path(settings.BASE_DIR)
LOCALE_DIR = BASE_DIR / "locale"
CATALOGUES = {
    "zh_Hans": LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "django.po",
    "en": LOCALE_DIR / "en" / "LC_MESSAGES" / "django.po",
}
PLURAL_FORMS = {"zh_Hans": "nplurals=1; plural=0;", "en": "nplurals=2; plural=(n != 1);"}
# What `makemessages --ignore=.venv --ignore=var --ignore=tests --ignore=bench` leaves out, plus
# the catalogues themselves and build output; hidden directories are skipped too.
NOT_SOURCE = {".venv", "var", "tests", "bench", "locale", "node_modules", "test-results"}

CJK = re.compile(r"[\u3400-\u9fff]")
PY_FORMAT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
NAMED = re.compile(r"%\(\w+\)[sd]")
BRACES = re.compile(r"\{\{[^{}]*\}\}|\{[\w.]*\}")  # {{ var }} left in a msgid, {name}, {0}
TAGS = re.compile(r"</?[A-Za-z][^>]*>")


def load(language):
    return polib.pofile(str(CATALOGUES[language]))


def key(entry):
    return (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")


def show(keys):
    return "\n".join(repr(k) for k in sorted(keys))


def placeholders(text, python_format):
    """Everything a translation must carry over unchanged: format specs, braces, markup."""
    found = Counter(BRACES.findall(text)) + Counter(TAGS.findall(text))
    pattern = PY_FORMAT if python_format else NAMED
    return found + Counter(pattern.findall(text))


def source_and_translation(entry):
    """(msgid or msgid_plural, msgstr) pairs: form 0 answers the singular when there are two
    forms; with one form (Chinese) it serves every count, so it answers the plural."""
    if not entry.msgid_plural:
        return [(entry.msgid, entry.msgstr)]
    forms = sorted(entry.msgstr_plural.items())
    return [
        (entry.msgid if n == 0 and len(forms) > 1 else entry.msgid_plural, text)
        for n, text in forms
    ]


# --- (a) the catalogues are well-formed and complete ---


@pytest.mark.parametrize("language", CATALOGUES)
def test_catalogue_header(language):
    po = load(language)
    assert not po.metadata_is_fuzzy
    assert po.metadata["Plural-Forms"] == PLURAL_FORMS[language]
    assert po.metadata["Language"] == language
    assert "charset=UTF-8" in po.metadata["Content-Type"]


@pytest.mark.parametrize("language", CATALOGUES)
def test_catalogue_is_complete(language):
    po = load(language)
    assert len(po) > 100
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    assert [e.msgid for e in po.obsolete_entries()] == []
    assert po.percent_translated() == 100
    nplurals = int(re.search(r"nplurals=(\d+)", PLURAL_FORMS[language])[1])
    for entry in po:
        if entry.msgid_plural:
            assert sorted(entry.msgstr_plural) == list(range(nplurals)), entry.msgid
            assert all(text.strip() for text in entry.msgstr_plural.values()), entry.msgid
        else:
            assert entry.msgstr.strip(), entry.msgid


@pytest.mark.parametrize("language", CATALOGUES)
def test_translations_keep_every_placeholder(language):
    wrong = []
    for entry in load(language):
        python_format = "python-format" in entry.flags
        for source, text in source_and_translation(entry):
            if placeholders(text, python_format) != placeholders(source, python_format):
                wrong.append((source, text))
    assert wrong == []


def test_placeholder_check_catches_mistakes():
    """The check above would notice a lost, renamed or un-doubled placeholder."""
    assert placeholders("%(counter)s 个客户", True) == placeholders("%(counter)s customers", True)
    assert placeholders("%(count)s 个客户", True) != placeholders("%(counter)s customers", True)
    assert placeholders("个客户", True) != placeholders("%(counter)s customers", True)
    assert placeholders("已选择 %s 个", True) != placeholders("Selected: %%s", True)
    assert placeholders("第 %(n)s 页", False) != placeholders("Page %(number)s", False)


def test_every_chinese_translation_is_chinese():
    english_left = [
        (e.msgid, text)
        for e in load("zh_Hans")
        for _source, text in source_and_translation(e)
        if not CJK.search(text)
    ]
    assert english_left == []


def test_english_catalogue_repeats_the_source_text():
    differs = [
        (e.msgid, e.msgstr_plural or e.msgstr)
        for e in load("en")
        if (
            e.msgstr_plural != {0: e.msgid, 1: e.msgid_plural}
            if e.msgid_plural
            else e.msgstr != e.msgid
        )
    ]
    assert differs == []


def test_both_catalogues_hold_the_same_messages():
    assert {key(e) for e in load("zh_Hans")} == {key(e) for e in load("en")}


@pytest.mark.parametrize("language", CATALOGUES)
def test_compiled_catalogue_is_current_and_readable(language):
    """The .mo beside each .po (compiled for this session) is newer and reads back correctly."""
    po_path = CATALOGUES[language]
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.stat().st_mtime >= po_path.stat().st_mtime
    with mo_path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    po = load(language)
    for entry in po:
        if entry.msgid_plural:
            assert (
                compiled.ngettext(entry.msgid, entry.msgid_plural, 5)
                == (entry.msgstr_plural[0 if language == "zh_Hans" else 1])
            )
        elif not entry.msgctxt:
            assert compiled.gettext(entry.msgid) == entry.msgstr


def test_django_speaks_chinese_for_zh_hans():
    with translation.override("zh-hans"):
        customers = translation.gettext("Customers")
        three = translation.ngettext("%(counter)s customer", "%(counter)s customers", 3)
    assert customers != "Customers" and CJK.search(customers)
    assert (three % {"counter": 3}).startswith("3") and CJK.search(three)
    with translation.override("en"):
        assert translation.gettext("Customers") == "Customers"


# --- (b) the catalogues are up to date with the code ---

KEYWORDS = {  # name -> positions of (context, singular, plural), as xgettext reads them
    "_": (None, 0, None),
    "gettext": (None, 0, None),
    "gettext_lazy": (None, 0, None),
    "gettext_noop": (None, 0, None),
    "ngettext": (None, 0, 1),
    "ngettext_lazy": (None, 0, 1),
    "pgettext": (0, 1, None),
    "pgettext_lazy": (0, 1, None),
    "npgettext": (0, 1, 2),
    "npgettext_lazy": (0, 1, 2),
}
LITERAL = re.compile(r"""[uU]?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
# gettext('…'), ngettext('…', '…', count), pgettext('…', '…'), _("…") in templatize's output
TEMPLATE_CALL = re.compile(rf"\b(_|n?p?gettext)\(((?:\s*(?:{LITERAL.pattern})\s*,?)+)")


def source_files(*suffixes):
    """The files makemessages reads, skipping what it is told to ignore (and hidden ones)."""
    for folder, subfolders, files in os.walk(BASE_DIR):
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".")
            and name != "__pycache__"
            and not (Path(folder) == BASE_DIR and name in NOT_SOURCE)
        )
        for name in sorted(files):
            if Path(name).suffix in suffixes:
                yield Path(folder) / name


def message_key(name, args):
    context, singular, plural = KEYWORDS[name]
    needed = max(i for i in (context, singular, plural) if i is not None)
    if len(args) <= needed:
        return None
    return (
        args[context] if context is not None else "",
        args[singular],
        args[plural] if plural is not None else "",
    )


def python_messages(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in KEYWORDS:
            continue
        args = []
        for arg in node.args:  # the literal arguments up to the first non-literal one
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                break
            args.append(arg.value)
        found = message_key(name, args)
        if found:
            yield found


def template_messages(path):
    """Through Django's own templatize, exactly as makemessages reads templates."""
    code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
    for match in TEMPLATE_CALL.finditer(code):
        args = [ast.literal_eval(literal) for literal in LITERAL.findall(match[2])]
        found = message_key(match[1], args)
        if found:
            yield found


@functools.cache
def extracted_messages():
    found = {}
    for path in source_files(".py"):
        for message in python_messages(path):
            found.setdefault(message, path.relative_to(BASE_DIR))
    for path in source_files(".html", ".txt"):
        for message in template_messages(path):
            found.setdefault(message, path.relative_to(BASE_DIR))
    return found


def test_extraction_finds_template_and_python_strings():
    found = extracted_messages()
    assert found[("", "Customers", "")] is not None  # {% translate %} and an AppConfig
    assert ("", "Customer", "") in found  # _("...") in a template filter argument
    assert ("", "Selected: %%s", "") in found  # per cent signs doubled, as makemessages does
    assert ("", "%(counter)s customer", "%(counter)s customers") in found  # blocktranslate
    assert ("", "This e-mail address is already taken by %(owner)s.", "") in found


def test_every_marked_string_is_in_the_catalogue():
    """No GNU gettext needed: templates through templatize, Python through its syntax tree."""
    catalogue = {key(e) for e in load("zh_Hans")}
    missing = {
        message: where
        for message, where in extracted_messages().items()
        if message not in catalogue
    }
    assert not missing, (
        "Run `python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=var "
        "--ignore=tests --ignore=bench` and translate these:\n"
        + "\n".join(f"{where}: {message!r}" for message, where in sorted(missing.items()))
    )


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed")
def test_catalogue_matches_what_makemessages_extracts(tmp_path, settings, monkeypatch):
    """makemessages on a copy of the sources: the catalogue holds exactly what it finds."""
    source = tmp_path / "src"
    source.mkdir()
    for entry in BASE_DIR.iterdir():
        if entry.name in NOT_SOURCE or entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.copytree(
                entry,
                source / entry.name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo"),
            )
        else:
            shutil.copy2(entry, source / entry.name)
    output = tmp_path / "locale"
    settings.LOCALE_PATHS = [str(output)]
    monkeypatch.chdir(source)
    call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    fresh = {key(e) for e in polib.pofile(str(output / "zh_Hans/LC_MESSAGES/django.po"))}
    catalogue = {key(e) for e in load("zh_Hans")}
    assert not fresh - catalogue, "not in the catalogue (run makemessages):\n" + show(
        fresh - catalogue
    )
    assert not catalogue - fresh, "no longer in the code (run makemessages):\n" + show(
        catalogue - fresh
    )


def test_template_translate_literals_are_in_the_catalogue():
    """The plain reading of the rule: every {% translate "…" %} literal has an entry."""
    catalogue = {e.msgid for e in load("zh_Hans") if not e.msgctxt}
    literal = re.compile(r"""\{%\s*(?:translate|trans)\s+(?:"([^"]*)"|'([^']*)')""")
    missing = []
    for path in source_files(".html", ".txt"):
        for match in literal.finditer(path.read_text(encoding="utf-8")):
            msgid = (match[1] if match[1] is not None else match[2]).replace("%", "%%")
            if msgid not in catalogue:
                missing.append((str(path.relative_to(BASE_DIR)), msgid))
    assert missing == []


# --- (c) the pages speak the user's language ---


def contact_list_html(client, language):
    user = UserFactory(language=language)
    ContactFactory.create_batch(2, owner=user)
    client.force_login(user)
    response = client.get(reverse("contacts:contact_list"), {"per_page": 1})
    assert response.status_code == 200
    return response.content.decode()


def test_contact_list_in_chinese(client, db):
    html = contact_list_html(client, "zh-hans")
    assert '<html lang="zh-hans">' in html
    assert "<h1>客户</h1>" in html
    assert "客户" in html
    assert "Customers" not in html
    assert "2 个客户" in html  # blocktranslate count, one plural form
    assert "第 1 页，共 2 页" in html  # blocktranslate with two variables
    assert 'data-template="已选择 %s 个"' in html  # doubled per cent sign restored for app.js
    assert "询盘" in html  # a stage choice label


def test_contact_list_in_english(client, db):
    html = contact_list_html(client, "en")
    assert '<html lang="en">' in html
    assert "<h1>Customers</h1>" in html
    assert "2 customers" in html
    assert "Page 1 of 2" in html
    assert 'data-template="Selected: %s"' in html
    assert "客户" not in html


def test_login_page_follows_the_browser_language(client, db):
    html = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in html
    assert "登录" in html and "用户名" in html


def test_contact_form_errors_in_chinese(db):
    user = UserFactory(language="zh-hans")
    with translation.override("zh-hans"):
        form = ContactForm(data={"email": "not-an-email"}, user=user)
        assert not form.is_valid()
        expected = translation.gettext("Enter a valid email address.")
        # The messages are lazy: read them in the language the page renders them in.
        assert [str(error) for error in form.errors["email"]] == [expected]
    assert CJK.search(expected)


def test_duplicate_email_error_in_chinese_names_the_owner(db):
    user = UserFactory(language="zh-hans")
    other = UserFactory(name_zh="王芳")
    ContactFactory(owner=other, email="taken@customer.example")
    with translation.override("zh-hans"):
        form = ContactForm(data={"email": "Taken@Customer.example"}, user=user)
        assert not form.is_valid()
        template = translation.gettext("This e-mail address is already taken by %(owner)s.")
    assert CJK.search(template)
    assert form.errors["email"] == [template % {"owner": "王芳"}]


def test_contact_form_page_in_chinese(client, db):
    user = UserFactory(language="zh-hans")
    client.force_login(user)
    response = client.post(reverse("contacts:contact_create"), {"email": "not-an-email"})
    html = response.content.decode()
    assert response.status_code == 200
    with translation.override("zh-hans"):
        banner = translation.gettext("Please correct the errors below. Nothing was saved.")
        email_error = translation.gettext("Enter a valid email address.")
    assert CJK.search(banner)
    assert banner in html
    assert email_error in html
    assert "新建客户" in html


def test_admin_header_in_chinese(client, db):
    admin = UserFactory(language="zh-hans", role=Role.ADMIN)
    client.force_login(admin)
    html = client.get(reverse("admin:index")).content.decode()
    with translation.override("zh-hans"):
        header = translation.gettext("Trade CRM")
    assert CJK.search(header)
    assert header in html
