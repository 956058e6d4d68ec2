"""Real mail servers for the mail tests: a private Dovecot (IMAP) and an aiosmtpd SMTP sink; a fake DNS for the
mail server check (interactions.mail_servers) and a loopback server that answers like something else than IMAP.

Dovecot comes from Debian's dovecot-imapd (scripts/dev.sh installs it). The fixture writes a config of its own
into a temporary folder (a passwd-file with one user, Maildir under the folder, no SSL, plaintext login on
loopback), runs ``dovecot -F -c <conf>`` on a free loopback port for the whole session and stops it at the end;
it neither needs nor touches a system-wide Dovecot. Each test gets folders of its own on it. A server that does
not start fails the tests that need it, with its log: nothing is skipped. Dovecot listens on loopback, which the
worker may reach only when an administrator allows it: the ``imap`` fixture allows 127.0.0.1
(CRM_MAILBOX_ALLOWED_HOSTS).
"""

import contextlib
import grp
import imaplib
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from interactions import mail_servers
from interactions.mail_sync import _quoted
from tests.factories.mail import MailboxFactory, MailMessageFactory

PUBLIC_ADDRESS = "93.184.216.34"  # an address on the internet, never connected to by the tests
IMAP_USER = "crm-test"
IMAP_PASSWORD = "Imap-test-2026"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _dovecot_config(root: Path, port: int) -> str:
    mail_dir = root / "mail"
    if os.geteuid() == 0:
        # Root (CI): Dovecot drops to its own users (dovecot, dovenull, made by the package); mail is never
        # accessed as root, so the Maildir belongs to the dovecot user.
        mail_user = pwd.getpwnam("dovecot")
        os.chown(mail_dir, mail_user.pw_uid, mail_user.pw_gid)
        users = ""
    else:
        # Anyone else: every process runs as the caller (Dovecot's "rootless" set-up).
        mail_user = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(os.getgid()).gr_name
        users = (f"default_internal_user = {mail_user.pw_name}\ndefault_internal_group = {group}\n"
                 f"default_login_user = {mail_user.pw_name}\n")
    return f"""# Written by tests/interactions/conftest.py for one test session.
protocols = imap
listen = 127.0.0.1
instance_name = crm-test-{root.name}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Answer a wrong password at once. (Dovecot still slows the next login from the same IP by a few seconds,
# its "auth penalty": the one wrong-password test pays for that once.)
auth_failure_delay = 0
{users}first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{mail_dir}/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={mail_dir}/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def _greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(64).startswith(b"* OK")
    except OSError:
        return False


@pytest.fixture(scope="session")
def dovecot_server():
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.access(binary, os.X_OK):
        pytest.fail("Dovecot is not installed: the mail tests need a real IMAP server. Install Debian's "
                    "dovecot-imapd (apt-get install dovecot-imapd; ./scripts/dev.sh test does it).")
    root = Path(tempfile.mkdtemp(prefix="crm-dovecot-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must reach their sockets and the Maildir
    (root / "mail").mkdir()
    (root / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::::\n")
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(_dovecot_config(root, port))
    output = (root / "output.txt").open("w")
    process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT,
                               start_new_session=True)

    def log() -> str:
        texts = [p.read_text(errors="replace") for p in (root / "output.txt", root / "dovecot.log") if p.exists()]
        return "\n".join(texts) or "(no output)"

    try:
        deadline = time.monotonic() + 30
        while not _greets(port):
            if process.poll() is not None:
                pytest.fail(f"Dovecot exited with status {process.returncode} instead of serving IMAP on "
                            f"127.0.0.1:{port}:\n{log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"Dovecot did not accept IMAP connections on 127.0.0.1:{port} within 30 s:\n{log()}")
            time.sleep(0.1)
        yield SimpleNamespace(host="127.0.0.1", port=port, user=IMAP_USER, password=IMAP_PASSWORD, root=root, log=log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the master stops its own children
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        output.close()
        shutil.rmtree(root, ignore_errors=True)


class Imap:
    """Folders of one test on the session's Dovecot, filled with IMAP APPEND as a mail program would."""

    def __init__(self, server):
        self.server = server
        self.folders: list[str] = []
        self.folder = self.new_folder()

    @contextlib.contextmanager
    def client(self):
        conn = imaplib.IMAP4(self.server.host, self.server.port, timeout=10)
        try:
            conn.login(self.server.user, self.server.password)
            yield conn
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                conn.logout()

    def new_folder(self, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with self.client() as conn:
            status, data = conn.create(_quoted(name))
            assert status == "OK", (name, data)
        self.folders.append(name)
        return name

    def put(self, raw: bytes, folder: str | None = None) -> None:
        with self.client() as conn:
            status, data = conn.append(_quoted(folder or self.folder), None, None, raw)
            assert status == "OK", data

    def recreate(self, folder: str | None = None) -> None:
        """Delete the folder and make it anew: the server gives it a new UIDVALIDITY and starts UIDs at 1."""
        folder = folder or self.folder
        with self.client() as conn:
            assert conn.delete(_quoted(folder))[0] == "OK"
            assert conn.create(_quoted(folder))[0] == "OK"

    def uid_validity(self, folder: str | None = None) -> int:
        with self.client() as conn:
            status, data = conn.status(_quoted(folder or self.folder), "(UIDVALIDITY)")
            assert status == "OK", data
            return int(data[0].split(b"UIDVALIDITY")[1].strip(b" )"))

    def mailbox_fields(self, folder: str | None = None) -> dict:
        return {"host": self.server.host, "port": self.server.port, "use_ssl": False,
                "username": self.server.user, "password": self.server.password, "folder": folder or self.folder}

    def clean_up(self) -> None:
        with self.client() as conn:
            for folder in self.folders:
                conn.delete(_quoted(folder))


@pytest.fixture
def imap(dovecot_server, settings):
    """A folder of this test's own on the real IMAP server (``imap.folder``), with helpers to fill it. The server
    is on loopback, which the CRM reaches only when allowed: allowed here."""
    settings.CRM_MAILBOX_ALLOWED_HOSTS = [dovecot_server.host]
    helper = Imap(dovecot_server)
    yield helper
    helper.clean_up()


@pytest.fixture
def dns(monkeypatch):
    """What the mail server check resolves names to, set by the test (``dns["imap.example.com"] = ["1.2.3.4"]``).
    imap.crm.example (the factories' mailbox server) is on the internet; other names are unknown, and address
    literals are themselves: the tests never depend on a real DNS."""
    records: dict[str, list[str]] = {"imap.crm.example": [PUBLIC_ADDRESS]}

    def resolve(host: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host not in records:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(records[host])

    monkeypatch.setattr(mail_servers, "resolve", resolve)
    return records


class BannerServer:
    """A loopback TCP server that greets with ``banner`` (e.g. an SSH server's) and counts who connected."""

    def __init__(self, banner: bytes):
        self.banner = banner
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _address = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                with contextlib.suppress(OSError):
                    conn.sendall(self.banner)
                    conn.settimeout(2)
                    conn.recv(1024)

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def ssh_server():
    """Something that is not a mail server, listening on loopback: what an SSRF would find."""
    server = BannerServer(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    yield server
    server.stop()


# ---------------------------------------------------------------------------------------------- SMTP


class _KeepMessages:
    """aiosmtpd handler: every message it is given is kept, as received."""

    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd's name too
        if address.startswith("nobody@"):  # a mailbox that does not exist, refused for good
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.messages.append(SimpleNamespace(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                                             content=envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def _smtp_server():
    from aiosmtpd.controller import Controller

    handler = _KeepMessages()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    try:
        controller.start()
    except Exception as error:  # whatever stops it, the tests must say so
        pytest.fail(f"The test SMTP server (aiosmtpd) did not start on 127.0.0.1:{port}: {error!r}")
    try:
        yield SimpleNamespace(handler=handler, port=port)
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink(_smtp_server, settings):
    """A real SMTP server on loopback, with Django's SMTP backend pointed at it; ``messages`` holds what it got."""
    _smtp_server.handler.messages.clear()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _smtp_server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    return SimpleNamespace(messages=_smtp_server.handler.messages, port=_smtp_server.port)


# ------------------------------------------------------------------------------------------- tasks


@pytest.fixture
def queued(monkeypatch):
    """The mailbox ids whose reading was queued (after commit)."""
    from interactions import tasks

    ids = []
    monkeypatch.setattr(tasks.sync_mailbox, "delay", lambda mailbox_id: ids.append(mailbox_id))
    return ids


# --------------------------------------------------------------------------------------- factories


@pytest.fixture
def mailbox_factory(db):
    return MailboxFactory


@pytest.fixture
def mail_message_factory(db):
    return MailMessageFactory
