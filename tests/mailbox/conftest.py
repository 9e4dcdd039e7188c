"""A real Dovecot IMAP server on loopback, the fixture messages, and mailbox helpers.

One Dovecot per test session, configured in a temporary folder (its own base_dir, state and
log, plaintext logins on 127.0.0.1 only, one passwd-file per user).
Every test gets a fresh user with a maildir filled with the messages it asks for, so tests never
see each other's mail. Debian's `dovecot-imapd` provides the server (.ci/run installs it); a
machine without it fails these tests with a message saying so.
"""

import csv
import email
import email.policy
import email.utils
import hashlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

FIXTURES = Path(os.environ.get("MAIL_FIXTURES", "")) if os.environ.get("MAIL_FIXTURES") else None
BASE_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 15


def fixtures_dir():
    """shared/fixtures/mail beside the checkout (CI lays shared/ next to the clone)."""
    candidates = [FIXTURES] if FIXTURES else []
    candidates += [
        BASE_DIR.parent / "shared" / "fixtures" / "mail",
    ]
    for candidate in candidates:
        if candidate and (candidate / "manifest.csv").exists():
            return candidate
    pytest.fail("The mail fixtures (shared/fixtures/mail/manifest.csv) were not found.")


def lf_digest(raw):
    """A digest that ignores line endings: IMAP serves every message with CRLF."""
    return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def load_manifest():
    folder = fixtures_dir()
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["raw"] = (folder / row["file"]).read_bytes()
        row["lf_sha256"] = lf_digest(row["raw"])
    return rows


@pytest.fixture(scope="session")
def manifest():
    return load_manifest()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dovecot_binary():
    found = shutil.which("dovecot")
    if not found and os.path.exists("/usr/sbin/dovecot"):
        found = "/usr/sbin/dovecot"
    if not found:
        pytest.fail(
            "Dovecot is not installed: the mailbox tests need a real IMAP server. "
            "Install Debian's package: apt-get install -y dovecot-imapd (.ci/run does)."
        )
    return found


class Dovecot:
    """A running Dovecot; `add_user` makes a user whose INBOX holds the given messages."""

    _numbers = itertools.count(1)

    def __init__(self, root: Path):
        self.root = root
        self.host = "127.0.0.1"
        self.port = free_port()
        # One passwd-file per user (the path names the user): a user added a moment ago is
        # found at once, where one shared file is re-read at most once a second.
        self.users = root / "users"
        self.users.mkdir()
        self.log = root / "dovecot.log"
        if os.geteuid() == 0:
            # Dovecot refuses mail access as root: the mail belongs to "nobody".
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
            service_users = ""
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            me = pwd.getpwuid(self.uid).pw_name
            service_users = (
                f"default_internal_user = {me}\ndefault_login_user = {me}\n"
                "service imap-login {\n  chroot =\n}\n"
            )
        self.conf = root / "dovecot.conf"
        self.conf.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = crm-test-{self.port}
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:~/Maildir
{service_users}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# No growing delay for logins after a failed one (the bad-password test): anvil's penalty off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users}/%u.passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users}/%u.passwd
}}
"""
        )
        self.process = None

    def start(self):
        binary = dovecot_binary()
        with open(self.root / "stderr.log", "wb") as output:
            self.process = subprocess.Popen(
                [binary, "-F", "-c", str(self.conf)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"Dovecot did not start on {self.host}:{self.port}:\n{self.logs()}")

    def logs(self):
        parts = []
        for name in ("stderr.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def maildir(self, user, folder="INBOX"):
        base = self.root / "mail" / user / "Maildir"
        return base if folder == "INBOX" else base / f".{folder}"

    def add_user(self, messages=(), *, password=None):
        """A new user whose INBOX holds `messages` (bytes each); returns (user, password)."""
        user = f"u{next(self._numbers)}x{uuid.uuid4().hex[:6]}"
        password = password or uuid.uuid4().hex
        home = self.root / "mail" / user
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
        self.deliver(user, messages)
        (self.users / f"{user}.passwd").write_text(
            f"{user}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{home}\n"
        )
        return user, password

    def deliver(self, user, messages, folder="INBOX"):
        """Put messages in a folder the way a delivery agent would (tmp/, then new/)."""
        box = self.maildir(user, folder)
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        for raw in messages:
            name = f"{time.time_ns()}.{uuid.uuid4().hex}.crmtest"
            (box / "tmp" / name).write_bytes(raw)
            os.rename(box / "tmp" / name, box / "new" / name)
        if folder != "INBOX":
            (box / "maildirfolder").touch()
        self._own(self.root / "mail" / user)

    def _own(self, path):
        if os.geteuid() != 0:
            return
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, self.uid, self.gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.gid)


@pytest.fixture(scope="session")
def dovecot():
    root = Path(tempfile.mkdtemp(prefix="crm-dovecot-"))
    os.chmod(root, 0o755)  # the mail user ("nobody" under root) must reach its maildir
    (root / "mail").mkdir()
    os.chmod(root / "mail", 0o755)
    server = Dovecot(root)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mail_settings(settings):
    from cryptography.fernet import Fernet

    settings.MAILBOX_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.MAILBOX_IMAP_TIMEOUT = 5
    settings.MAILBOX_SYNC_BATCH = 10
    settings.MAILBOX_RETURN_PATH = "bounces@crm.example"
    settings.MAILBOX_MESSAGE_ID_DOMAIN = "crm.example"
    return settings


@pytest.fixture
def make_mailbox(db, dovecot, mail_settings):
    """A Mailbox row pointing at the test Dovecot for a user (and password) of the test's own."""
    from mailbox.models import Mailbox, Security

    def make(user, password, *, name=None, folders=None):
        mailbox = Mailbox(
            name=name or f"box {user}",
            host=dovecot.host,
            port=dovecot.port,
            security=Security.NONE,
            username=user,
            folders=folders or ["INBOX"],
        )
        mailbox.set_password(password)
        mailbox.save()
        return mailbox

    return make


# --- the classifier: the real one once it exists, else the manifest's verdicts ------------------


def _stand_in_helpers():
    """parse_message & co. for the sync tests while mailbox.classify does not have them yet."""

    def parse_message(raw):
        return email.message_from_bytes(raw, policy=email.policy.default)

    def sender_address(message):
        return email.utils.parseaddr(str(message.get("From", "")))[1].lower()

    def message_subject(message):
        return str(message.get("Subject", ""))

    def reply_text(message):
        body = message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""

    return {
        "parse_message": parse_message,
        "sender_address": sender_address,
        "message_subject": message_subject,
        "reply_text": reply_text,
    }


def classify_is_implemented():
    from mailbox import classify

    try:
        classify.classify_message(b"Subject: hello\r\n\r\nhi\r\n")
    except NotImplementedError:
        return False
    except Exception:  # noqa: BLE001 - implemented, whatever it thinks of this message
        return True
    return all(
        hasattr(classify, name)
        for name in ("parse_message", "sender_address", "message_subject", "reply_text")
    )


@pytest.fixture
def manifest_classifier(monkeypatch, manifest):
    """Verdicts straight from manifest.csv: the sync tests test the sync, not the classifier."""
    from mailbox import classify

    by_digest = {row["lf_sha256"]: row for row in manifest}

    def classify_message(raw):
        row = by_digest.get(lf_digest(raw))
        if row is None:
            return classify.Verdict(kind="other")
        return classify.Verdict(
            kind=row["kind"],
            failed_recipient=row["failed_recipient"] or None,
            status_code=row["status_code"] or None,
            is_delay_warning="delay" in row["notes"].lower() and row["kind"] == "soft_bounce",
        )

    monkeypatch.setattr(classify, "classify_message", classify_message)
    for name, helper in _stand_in_helpers().items():
        if not hasattr(classify, name):
            monkeypatch.setattr(classify, name, helper, raising=False)
    return classify_message


@pytest.fixture
def real_classifier():
    if not classify_is_implemented():
        pytest.skip("mailbox.classify.classify_message is not implemented yet")
