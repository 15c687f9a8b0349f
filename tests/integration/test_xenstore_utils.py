"""xensim's xenstored against Debian's xenstore-utils (libxenstore 4.17),
unmodified, through XENSTORED_PATH: outputs, exit statuses and error
messages as the tools give them against Xen's C xenstored.  The expected
strings come from the tools' source (tools/xenstore/xenstore_client.c):
`warnx("couldn't read path %s")`, `err(1, "xs_directory (%s)")`, ...

Also the wire protocol spoken directly (CONTROL, malformed input, a client
that never reads), the daemon's life cycle, and `boot --xenstore-socket`.
"""

import os
import select
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import XENSIM, assert_no_sanitizer_report
from test_images import Elf

XS_CONTROL, XS_DIRECTORY, XS_READ, XS_WATCH, XS_WRITE = 0, 1, 2, 4, 11
XS_WATCH_EVENT, XS_ERROR = 15, 16
TOOLS = ("xenstore-read", "xenstore-write", "xenstore-ls", "xenstore-list",
         "xenstore-rm", "xenstore-chmod", "xenstore-exists", "xenstore-watch")

pytestmark = pytest.mark.skipif(
    any(not Path("/usr/bin", t).exists() for t in TOOLS),
    reason="xenstore-utils not installed")


def wait_for_socket(path: Path, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"xensim exited with {proc.returncode}: "
                                 f"{proc.stderr.read().decode()}")
        if path.exists():
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(path))
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.02)
    raise AssertionError(f"{path} never accepted connections")


class Store:
    def __init__(self, path: Path, proc):
        self.path = path
        self.proc = proc
        self.env = dict(os.environ, XENSTORED_PATH=str(path))

    def tool(self, name, *args, timeout=20):
        return subprocess.run([name, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def ok(self, name, *args):
        r = self.tool(name, *args)
        assert r.returncode == 0, f"{name} {args}: {r.returncode} {r.stderr}"
        return r.stdout

    def connect(self):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(self.path))
        s.settimeout(10)
        return s

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        err = err.decode("utf-8", "surrogateescape")
        assert_no_sanitizer_report(err, "(xenstored)")
        return self.proc.returncode, err


@pytest.fixture
def store(xensim, tmp_path):
    path = tmp_path / "xs.sock"
    proc = subprocess.Popen([str(xensim), "xenstored", "--socket", str(path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_for_socket(path, proc)
    s = Store(path, proc)
    yield s
    if proc.poll() is None:
        status, _ = s.stop()
        assert status == 0


# ---- the wire protocol by hand --------------------------------------------------

def send(s, type_, payload: bytes, req_id=0, tx_id=0):
    s.sendall(struct.pack("<IIII", type_, req_id, tx_id, len(payload)) + payload)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def recv_msg(s):
    type_, req_id, tx_id, n = struct.unpack("<IIII", recv_exact(s, 16))
    return type_, req_id, tx_id, recv_exact(s, n)


def request(s, type_, payload: bytes, req_id=7, tx_id=0):
    """The reply to one request (watch events before it are skipped)."""
    send(s, type_, payload, req_id, tx_id)
    while True:
        m = recv_msg(s)
        if m[0] != XS_WATCH_EVENT:
            assert m[1] == req_id
            return m[0], m[3]


# ---- the tools ------------------------------------------------------------------------

FRESH_LS = """\
tool = ""
 xenstored = ""
local = ""
 domain = ""
  0 = ""
   domid = "0"
   name = "Domain-0"
 pool = ""
  0 = ""
   name = "Pool-0"
"""


def test_fresh_store(store):
    assert store.ok("xenstore-ls") == FRESH_LS
    assert store.ok("xenstore-list", "/") == "tool\nlocal\n"
    assert store.ok("xenstore-read", "/local/domain/0/name") == "Domain-0\n"
    assert store.ok("xenstore-ls", "-f", "/local/pool") == (
        '/local/pool/0 = ""\n/local/pool/0/name = "Pool-0"\n')


def test_write_read(store):
    store.ok("xenstore-write", "/a/b/c", "hello", "/a/d", "two words")
    assert store.ok("xenstore-read", "/a/b/c") == "hello\n"
    assert store.ok("xenstore-read", "-p", "/a/b/c", "/a/d") == (
        "/a/b/c: hello\n/a/d: two words\n")
    assert store.ok("xenstore-read", "/a/b") == "\n"  # an implicit parent is empty
    # Escapes are the tools' own (sanitise_value); the store keeps bytes.
    store.ok("xenstore-write", "/e", r"tab\there\x1f\001")
    assert store.ok("xenstore-read", "/e") == r"tab\there\x1f\001" + "\n"
    assert store.ok("xenstore-read", "-R", "/e") == "tab\there\x1f\x01"
    store.ok("xenstore-write", "-R", "/raw", r"a\tb")
    assert store.ok("xenstore-read", "-R", "/raw") == r"a\tb"
    # Relative paths of a socket client are under /local/domain/0.
    store.ok("xenstore-write", "rel", "x")
    assert store.ok("xenstore-read", "/local/domain/0/rel") == "x\n"
    # Children are listed in creation order, as Xen's xenstored keeps them.
    for k in ("zeta", "alpha", "mid"):
        store.ok("xenstore-write", f"/order/{k}", k)
    assert store.ok("xenstore-list", "/order") == "zeta\nalpha\nmid\n"
    assert store.ok("xenstore-list", "-p", "/order") == (
        "/order/zeta\n/order/alpha\n/order/mid\n")
    assert store.ok("xenstore-ls", "/order") == (
        'zeta = "zeta"\nalpha = "alpha"\nmid = "mid"\n')
    assert store.tool("xenstore-exists", "/order/mid").returncode == 0


def test_error_messages(store):
    r = store.tool("xenstore-read", "/x")
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", "xenstore-read: couldn't read path /x\n")
    r = store.tool("xenstore-read", "/bad/")  # EINVAL: same message
    assert (r.returncode, r.stderr) == (1, "xenstore-read: couldn't read path /bad/\n")
    r = store.tool("xenstore-list", "/x")
    assert (r.returncode, r.stderr) == (1, "xenstore-list: could not list path /x\n")
    r = store.tool("xenstore-ls", "/x")
    assert (r.returncode, r.stderr) == (
        1, "xenstore-ls: xs_directory (/x): No such file or directory\n")
    r = store.tool("xenstore-ls", "/bad//x")
    assert (r.returncode, r.stderr) == (
        1, "xenstore-ls: xs_directory (/bad//x): Invalid argument\n")
    r = store.tool("xenstore-exists", "/x")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")
    r = store.tool("xenstore-write", "/bad path", "v")
    assert (r.returncode, r.stderr) == (1, "xenstore-write: could not write path /bad path\n")
    # rm of a missing node is fine while its parent exists.
    assert store.tool("xenstore-rm", "/local/nothing").returncode == 0
    r = store.tool("xenstore-rm", "/no/such/node")
    assert (r.returncode, r.stderr) == (1, "xenstore-rm: could not remove path /no/such/node\n")
    r = store.tool("xenstore-rm", "/")
    assert (r.returncode, r.stderr) == (1, "xenstore-rm: could not remove path /\n")
    # Domain 7 does not exist, so it cannot own a node.
    r = store.tool("xenstore-chmod", "/local", "n7")
    assert (r.returncode, r.stderr) == (
        1, "xenstore-chmod: Error occurred setting permissions on '/local': "
           "No such file or directory\n")
    r = store.tool("xenstore-chmod", "/local", "x0")
    assert (r.returncode, r.stderr) == (
        1, "xenstore-chmod: Invalid permission specification: 'x'\n")
    # The multi-call binary.
    r = subprocess.run(["xenstore", "read", "/x"], env=store.env, capture_output=True,
                       text=True, timeout=20)
    assert (r.returncode, r.stderr) == (1, "xenstore: couldn't read path /x\n")


def test_rm_tidy_and_subtree(store):
    store.ok("xenstore-write", "/t/a/b/c", "1", "/t/keep", "2")
    store.ok("xenstore-rm", "-t", "/t/a/b/c")  # empty parents go too
    assert store.ok("xenstore-ls", "/t") == 'keep = "2"\n'
    store.ok("xenstore-write", "/s/x/y", "1", "/s/x/z", "2")
    store.ok("xenstore-rm", "/s/x")
    assert store.ok("xenstore-list", "/s") == ""


def test_chmod_and_permissions(store):
    store.ok("xenstore-write", "/p/q/r", "v")
    store.ok("xenstore-chmod", "-r", "/p", "b0", "r0")
    out = store.ok("xenstore-ls", "-p", "/p")
    assert out.splitlines()[0].startswith('q = ""') and out.splitlines()[0].endswith(
        "(b0,r0)")
    assert out.splitlines()[1].endswith("(b0,r0)")
    store.ok("xenstore-chmod", "-u", "/p/q/r", "n0")
    assert store.ok("xenstore-ls", "-p", "/p").splitlines()[0].endswith("(n0)")
    # Entries naming missing domains are kept (and ignored).
    store.ok("xenstore-chmod", "/p", "n0", "r12")
    assert "(n0,r12)" in store.ok("xenstore-ls", "-p", "/")


def test_watch(store):
    w = subprocess.Popen(["xenstore-watch", "-n", "4", "/w"], env=store.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert w.stdout.readline() == "/w\n"  # fired once when set up
        store.ok("xenstore-write", "/w/x", "1")
        store.ok("xenstore-write", "/other", "1")
        store.ok("xenstore-write", "/w/x/y", "2")
        store.ok("xenstore-rm", "/w")
        out, err = w.communicate(timeout=20)
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    assert (w.returncode, out, err) == (0, "/w/x\n/w/x/y\n/w\n", "")


def test_watch_special(store):
    w = subprocess.Popen(["xenstore-watch", "-n", "1", "@introduceDomain"],
                         env=store.env, stdout=subprocess.PIPE, text=True)
    out, _ = w.communicate(timeout=20)
    assert out == "@introduceDomain\n"


def test_long_directory(store):
    # More children than one reply holds: libxenstore falls back to
    # DIRECTORY_PART when DIRECTORY says E2BIG.
    names = [f"child-with-quite-a-long-name-{i:04d}" for i in range(250)]
    s = store.connect()
    for n in names:
        assert request(s, XS_WRITE, f"/big/{n}\0".encode())[0] == XS_WRITE
    assert request(s, XS_DIRECTORY, b"/big\0") == (XS_ERROR, b"E2BIG\0")
    s.close()
    assert store.ok("xenstore-list", "/big").splitlines() == names


# ---- the wire protocol ------------------------------------------------------------

def test_control(store):
    s = store.connect()
    t, body = request(s, XS_CONTROL, b"quota\0")
    assert t == XS_CONTROL
    assert body.decode().startswith("Quota settings:\nnodes            :     1000 ")
    assert request(s, XS_CONTROL, b"print\0hello from the test\0") == (XS_CONTROL, b"OK\0")
    assert request(s, XS_CONTROL, b"nonsense\0") == (XS_ERROR, b"EINVAL\0")
    t, body = request(s, XS_CONTROL, b"quota\x000\0")
    assert body.startswith(b"Domain 0:\nnodes           :       ")
    s.close()
    status, err = store.stop()
    assert status == 0
    assert "xenstored: control: hello from the test\n" in err


def test_malformed_input(store):
    s = store.connect()
    assert request(s, XS_READ, b"/local") == (XS_ERROR, b"EINVAL\0")  # no nul
    assert request(s, 99, b"") == (XS_ERROR, b"ENOSYS\0")
    assert request(s, XS_WATCH_EVENT, b"/x\0t\0") == (XS_ERROR, b"ENOSYS\0")
    assert request(s, XS_READ, b"/local\0", tx_id=5) == (XS_ERROR, b"ENOENT\0")
    # Byte by byte is fine.
    msg = struct.pack("<IIII", XS_READ, 3, 0, 21) + b"/local/domain/0/name\0"
    for b in msg:
        s.send(bytes([b]))
    assert recv_msg(s) == (XS_READ, 3, 0, b"Domain-0")
    # A payload over 4096 bytes: the connection is dropped, as Xen does.
    s.sendall(struct.pack("<IIII", XS_READ, 1, 0, 4097))
    assert s.recv(100) == b""
    s.close()
    # Garbage on another connection does not disturb the store.
    g = store.connect()
    g.sendall(os.urandom(5000))
    g.close()
    assert store.ok("xenstore-read", "/local/domain/0/domid") == "0\n"


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_client_that_never_reads(store):
    """Requests from a client that reads no replies stop being read (its
    output stays bounded); a watcher that never reads is closed once 1 MiB of
    events waits for it.  Either way the store serves everybody else."""
    before = rss_kib(store.proc.pid)
    flood = store.connect()
    flood.setblocking(False)
    req = struct.pack("<IIII", XS_READ, 0, 0, 21) + b"/local/domain/0/name\0"
    sent = 0
    for _ in range(200):
        try:
            sent += flood.send(req * 512)
        except BlockingIOError:
            time.sleep(0.005)
    assert sent > 64 << 10
    assert store.ok("xenstore-read", "/local/domain/0/name") == "Domain-0\n"
    assert rss_kib(store.proc.pid) - before < 32 * 1024
    # Nothing was dropped: once it reads, every whole request gets its reply.
    flood.setblocking(True)
    flood.settimeout(20)
    for _ in range(sent // len(req)):
        assert recv_msg(flood) == (XS_READ, 0, 0, b"Domain-0")

    watcher = store.connect()
    send(watcher, XS_WATCH, b"/ev\0tok\0")
    long = "x" * 1500
    s = store.connect()
    for i in range(2000):
        send(s, XS_WRITE, f"/ev/{i}/{long}\0".encode())
    for i in range(2000):
        assert recv_msg(s)[0] == XS_WRITE
    watcher.setblocking(False)
    got = b""
    try:  # the watcher was dropped: what it can still read ends in EOF
        while True:
            r, _, _ = select.select([watcher], [], [], 5)
            assert r, "watcher never closed"
            chunk = watcher.recv(1 << 16)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    assert len(got) < 4 << 20
    assert store.ok("xenstore-read", "/local/domain/0/domid") == "0\n"
    flood.close()
    status, err = store.stop()
    assert status == 0
    assert "bytes of output unread, closing it" in err


def test_shutdown(xensim, tmp_path):
    for sig in (signal.SIGINT, signal.SIGTERM):
        path = tmp_path / f"s{sig}"
        proc = subprocess.Popen([str(xensim), "xenstored", "--socket", str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_socket(path, proc)
        s = Store(path, proc)
        c = s.connect()  # a client still connected
        status, err = s.stop(sig)
        assert status == 0
        assert not path.exists()
        assert err.startswith(f"xensim: xenstored listening on {path}\n")
        c.close()


def test_usage(xensim, tmp_path):
    r = subprocess.run([str(xensim), "xenstored"], capture_output=True, text=True)
    assert r.returncode == 2 and "which socket?" in r.stderr
    r = subprocess.run([str(xensim), "xenstored", "--socket"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "--socket needs a socket path" in r.stderr
    long = tmp_path / ("x" * 120)
    r = subprocess.run([str(xensim), "xenstored", "--socket", str(long)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "socket path longer than 107 bytes" in r.stderr
    r = subprocess.run([str(xensim), "xenstored", "--socket", "/nonexistent-dir/s"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "cannot listen" in r.stderr


# ---- a simulation's store ------------------------------------------------------------

def idle_guest(basic_elf, tmp_path):
    """basic.elf whose 64-bit entry is `sti; hlt; jmp .-1`: the guest waits
    for events forever, so the run waits for socket clients."""
    elf = Elf(open(basic_elf, "rb").read())
    off = elf.file_offset(elf.entry64())
    data = bytearray(elf.data)
    data[off:off + 4] = b"\xfb\xf4\xeb\xfd"
    p = tmp_path / "idle.elf"
    p.write_bytes(bytes(data))
    return p


def test_boot_exposes_store(xensim, basic_elf, tmp_path):
    sock = tmp_path / "run.sock"
    proc = subprocess.Popen([str(xensim), "boot", str(idle_guest(basic_elf, tmp_path)),
                             "--memory", "32", "--vcpus", "2", "--xenstore-socket",
                             str(sock)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for_socket(sock, proc)
        s = Store(sock, proc)
        assert s.ok("xenstore-read", "/local/domain/1/name") == "guest\n"
        assert s.ok("xenstore-read", "/local/domain/1/domid") == "1\n"
        assert s.ok("xenstore-read", "/local/domain/1/memory/static-max") == "32768\n"
        assert s.ok("xenstore-list", "/local/domain/1/cpu") == "0\n1\n"
        ring = int(s.ok("xenstore-read", "/local/domain/1/store/ring-ref"))
        assert ring == (32 << 20) // 4096 - 8 + 4
        perms = s.ok("xenstore-ls", "-p", "/local/domain/1")
        assert any(l.startswith("control") and l.endswith("(n0,r1)")
                   for l in perms.splitlines())
        assert any(l.startswith(" shutdown") and l.endswith("(n1)")
                   for l in perms.splitlines())
        assert s.ok("xenstore-read", "/vm/00000000-0000-0000-0000-000000000001/name") == (
            "guest\n")
        # Writes from outside land in the running simulation's store.
        s.ok("xenstore-write", "/local/domain/1/control/shutdown", "poweroff")
        assert s.ok("xenstore-read", "/local/domain/1/control/shutdown") == "poweroff\n"
        assert proc.poll() is None  # still waiting for the guest
    finally:
        proc.kill()
        proc.wait()
