"""Hostile SFTP servers: nothing a compromised companion sends may hang the dock, exhaust its memory or pass.

OpenSSH's sftp-server cannot be made to misbehave, so these tests put
:class:`HostileSftp`, a scripted SFTP v3 server, on the far side of a fake
channel and drive the real client through it: :class:`SftpSession`, its reply
loop and timeouts (``SftpChannel``), the read scheduler behind ``hash_files`` and ``walk``.
Each server bounds itself too: asked for more than ``max_replies`` replies it
raises, so a regression fails in a second instead of hanging or eating memory.
Time is the server's :class:`Clock`: every reply takes 10 ms.
"""

from __future__ import annotations

import hashlib
import stat
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import paramiko
import pytest

from attest.collectors.ssh.listing import list_tree
from attest.errors import CollectionError, TransportError
from attest.selection import Selection
from attest.transports.ssh import SftpLimits, SftpProtocolError, SftpSession
from attest.transports.ssh.sftp.read import FileReads
from attest.transports.ssh.sftp.wire import (
    FXP_ATTRS,
    FXP_CLOSE,
    FXP_DATA,
    FXP_EXTENDED,
    FXP_EXTENDED_REPLY,
    FXP_FSTAT,
    FXP_HANDLE,
    FXP_INIT,
    FXP_NAME,
    FXP_OPEN,
    FXP_OPENDIR,
    FXP_READ,
    FXP_READDIR,
    FXP_READLINK,
    FXP_STAT,
    FXP_STATUS,
    FXP_VERSION,
    pack_string,
    read_string,
)

#: A file's contents as the server reads them: (offset, length) -> bytes, or None at end of file.
Contents = Callable[[int, int], bytes | None]
#: A directory's listing as the server reads it: (path, batch number) -> entries, or None at the end.
#: Each entry is (name, mode, size).
Listing = Callable[[bytes, int], Sequence[tuple[bytes, int, int]] | None]

DIR, FILE = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o644
EOF, OK, NO_SUCH_FILE = 1, 0, 2


class Clock:
    """The server's time, in seconds; the session under test reads it for its deadlines."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def zeros(offset: int, length: int) -> bytes:
    """A file that never ends."""
    del offset
    return bytes(length)


def first_read(path: bytes, offset: int) -> bool:
    """Hold back the read at offset 0."""
    del path
    return offset == 0


def never(path: bytes, offset: int) -> bool:
    """Hold back nothing."""
    del path, offset
    return False


def once(entries: Sequence[tuple[bytes, int, int]]) -> Listing:
    """Every directory lists ``entries``, then ends."""

    def listing(path: bytes, batch: int) -> Sequence[tuple[bytes, int, int]] | None:
        del path
        return entries if batch == 0 else None

    return listing


def everything(rel: bytes) -> bool:
    """Descend everywhere."""
    del rel
    return True


def sized(data: bytes) -> Contents:
    """A file holding ``data``."""

    def read(offset: int, length: int) -> bytes | None:
        return data[offset : offset + length] or None

    return read


class HostileSftp:
    """A scripted SFTP v3 server, seen by :class:`SftpSession` as its ``paramiko.Channel``.

    Requests are answered as the dock sends them; :meth:`recv` hands out the
    answers and raises ``TimeoutError`` (what a real channel does after the
    timeout) when the server has nothing to say. ``hold`` picks READs to leave
    unanswered: forever, or (``release_when_idle``) until nothing else is left.
    """

    REPLY_SECONDS = 0.01

    def __init__(
        self,
        *,
        files: Mapping[bytes, Contents] | None = None,
        dirs: Listing | None = None,
        links: dict[bytes, bytes] | None = None,
        hold: Callable[[bytes, int], bool] = never,
        release_when_idle: bool = False,
        max_read: int = 32 * 1024,
        max_replies: int = 5000,
    ) -> None:
        self.clock = Clock()
        self.files = files or {}
        self.dirs = dirs
        self.links = links or {}
        self.hold = hold
        self.release_when_idle = release_when_idle
        self.max_read = max_read
        self.max_replies = max_replies
        self.replies = 0
        self.reads: list[tuple[bytes, int, int]] = []  # every READ asked: (path, offset, length)
        self.served = 0  # bytes of file data sent
        self._in = bytearray()
        self._out = bytearray()
        self._handles: dict[bytes, list[object]] = {}  # handle -> [path, READDIR batches sent]
        self._held: list[tuple[int, bytes, int, int]] = []

    # -- the paramiko.Channel surface SftpSession uses ------------------------------------------------

    def sendall(self, data: bytes) -> None:
        self._in += data
        while len(self._in) >= 5:
            (n,) = struct.unpack(">I", self._in[:4])
            if len(self._in) < 4 + n:
                break
            packet = bytes(self._in[4 : 4 + n])
            del self._in[: 4 + n]
            self._request(packet[0], packet[1:])

    def recv_ready(self) -> bool:
        return bool(self._out)

    def recv(self, n: int) -> bytes:
        del n
        if not self._out and self.release_when_idle:
            held, self._held = self._held, []
            for rid, path, offset, length in held:
                self._answer_read(rid, path, offset, length)
        if not self._out:
            raise TimeoutError("the server has nothing more to say")
        data = bytes(self._out)
        self._out.clear()
        return data

    def close(self) -> None:
        pass

    # -- the server -----------------------------------------------------------------------------------

    def _reply(self, kind: int, rid: int, payload: bytes) -> None:
        self.replies += 1
        if self.replies > self.max_replies:
            raise AssertionError(f"the dock is still asking after {self.max_replies} replies")
        self.clock.now += self.REPLY_SECONDS
        self._out += struct.pack(">IBI", len(payload) + 5, kind, rid) + payload

    def _status(self, rid: int, code: int) -> None:
        self._reply(FXP_STATUS, rid, struct.pack(">I", code) + pack_string(b"") + pack_string(b""))

    def _handle(self, rid: int, path: bytes) -> None:
        handle = b"h%d" % len(self._handles)
        self._handles[handle] = [path, 0]
        self._reply(FXP_HANDLE, rid, pack_string(handle))

    def _request(self, kind: int, body: bytes) -> None:
        if kind == FXP_INIT:
            ext = pack_string(b"limits@openssh.com") + pack_string(b"1")
            self._out += struct.pack(">IBI", 5 + len(ext), FXP_VERSION, 3) + ext
            return
        (rid,) = struct.unpack(">I", body[:4])
        arg, pos = read_string(body, 4)
        if kind == FXP_EXTENDED:  # limits@openssh.com: packet, read, write, handles (0: no limit)
            self._reply(FXP_EXTENDED_REPLY, rid, struct.pack(">QQQQ", 256 * 1024, self.max_read, 0, 0))
        elif kind == FXP_OPEN:
            if arg in self.files:
                self._handle(rid, arg)
            else:
                self._status(rid, NO_SUCH_FILE)
        elif kind == FXP_OPENDIR:
            self._handle(rid, arg)
        elif kind == FXP_READ:
            path = cast("bytes", self._handles[arg][0])
            offset, length = struct.unpack(">QI", body[pos : pos + 12])
            self.reads.append((path, offset, length))
            if self.hold(path, offset):
                self._held.append((rid, path, offset, length))
            else:
                self._answer_read(rid, path, offset, length)
        elif kind == FXP_READDIR:
            state = self._handles[arg]
            path, batch = cast("bytes", state[0]), cast("int", state[1])
            state[1] = batch + 1
            assert self.dirs is not None
            entries = self.dirs(path, batch)
            if entries is None:
                self._status(rid, EOF)
                return
            payload = bytearray(struct.pack(">I", len(entries)))
            for name, mode, size in entries:
                payload += pack_string(name) + pack_string(b"") + struct.pack(">IQIII", 0x7, size, 0, 0, mode)
            self._reply(FXP_NAME, rid, bytes(payload))
        elif kind == FXP_READLINK:
            self._reply(
                FXP_NAME, rid, struct.pack(">I", 1) + pack_string(self.links[arg]) + pack_string(b"") + bytes(4)
            )
        elif kind == FXP_STAT:
            self._reply(FXP_ATTRS, rid, struct.pack(">II", 0x4, DIR))
        elif kind == FXP_FSTAT:  # the size the contents have now (a file that never ends: 1 TiB)
            path = cast("bytes", self._handles[arg][0])
            self._reply(FXP_ATTRS, rid, struct.pack(">IQ", 0x1, self._size(path)))
        elif kind == FXP_CLOSE:
            self._status(rid, OK)
        else:
            raise AssertionError(f"unexpected SFTP request type {kind}")

    def _size(self, path: bytes) -> int:
        size = 0
        while size < 64 << 20:
            piece = self.files[path](size, 1 << 20)
            if piece is None:
                return size
            size += len(piece)
        return 1 << 40

    def _answer_read(self, rid: int, path: bytes, offset: int, length: int) -> None:
        data = self.files[path](offset, length)
        if data is None:
            self._status(rid, EOF)
            return
        self.served += len(data)
        self._reply(FXP_DATA, rid, pack_string(data))


def session(server: HostileSftp, *, timeout: float = 1.0, limits: SftpLimits | None = None) -> SftpSession:
    """The real SFTP client, started against ``server``."""
    s = SftpSession(
        cast("paramiko.Channel", server), label="root@evil:22", timeout=timeout, limits=limits, clock=server.clock
    )
    s.start()
    return s


def walk_count(sftp: SftpSession, root: bytes = b"/") -> int:
    """Entries a whole walk yields (counted, not kept)."""
    n = 0
    for _ in sftp.walk(root, descend=everything):
        n += 1
    return n


# -- reads: held answers, files that do not end, partitions --------------------------------------------------


def test_a_read_held_back_stops_the_file_at_its_window() -> None:
    """Offset 0 never answered, everything else answered: the dock stops asking, then times out.

    The review's reproduction: a file listed as 32 GiB grew the dock's parked
    data past 1.5 GiB, and no timeout fired because answers kept coming.
    """
    server = HostileSftp(
        files={b"/evil.img": zeros},
        hold=first_read,
        max_replies=500,  # 16 MiB of answers
    )
    with pytest.raises(TransportError, match=r"timed out after 1 s waiting for the SFTP reply to READ of '/evil.img'"):
        session(server).hash_files([(b"/evil.img", 32 << 30)])
    assert server.served <= FileReads.PER_FILE * server.max_read


def test_data_held_out_of_order_counts_against_the_budget() -> None:
    """Many files, each with its first read held: what the dock holds stays within max_inflight_bytes."""
    files = {b"/f%d" % i: zeros for i in range(100)}
    server = HostileSftp(files=files, hold=first_read, max_replies=2000)
    budget = 1 << 20
    with pytest.raises(TransportError, match="timed out after 1 s waiting for the SFTP reply to READ of '/f0'"):
        session(server).hash_files([(path, 4 << 20) for path in files], max_inflight_bytes=budget)
    assert server.served <= budget


def test_a_read_skipped_while_others_are_answered_times_out() -> None:
    """A server that keeps the link busy with other answers still has to answer every request in time."""
    server = HostileSftp(
        files={b"/usr/bin/px4": zeros, b"/dev/mmcblk0": zeros},
        hold=lambda path, offset: path == b"/usr/bin/px4" and offset == 0,
        max_read=4096,
    )
    with pytest.raises(
        TransportError,
        match=r"timed out after 1 s waiting for the SFTP reply to READ of '/usr/bin/px4' "
        r"\(the device kept answering later requests instead\)",
    ):
        session(server).hash_files([(b"/usr/bin/px4", 1 << 20), (b"/dev/mmcblk0", None)])
    assert 1.0 < server.clock.now < 1.5


def test_a_file_that_grows_or_shrinks_while_read_is_an_error() -> None:
    """A size after reading other than listed, or an end before it, is an error, never a digest."""
    ok = bytes(range(256)) * 400
    server = HostileSftp(
        files={b"/var/log/grows": zeros, b"/etc/shrank": sized(ok[:50_000]), b"/etc/ok": sized(ok)},
        max_replies=500,
    )
    results = session(server).hash_files(
        [(b"/var/log/grows", 100_000), (b"/etc/shrank", 102_400), (b"/etc/ok", 102_400)]
    )
    assert results == {
        b"/var/log/grows": "cannot read: it changed between listing and reading (size 100000 -> 1099511627776)",
        b"/etc/shrank": "cannot read: it changed while being read (50000 of the 102400 bytes listed)",
        b"/etc/ok": hashlib.sha256(ok).hexdigest(),
    }
    grows = [offset + length for path, offset, length in server.reads if path == b"/var/log/grows"]
    assert max(grows) <= 100_000  # a file is read to its listed size, no further


def test_a_partition_is_read_at_most_to_the_limit() -> None:
    """A partition that never ends stops at max_file_bytes; a file listed as larger is not read at all."""
    assert SftpLimits().max_file_bytes == 64 << 30
    p1 = bytes(range(256)) * 1200
    server = HostileSftp(files={b"/dev/endless": zeros, b"/dev/mmcblk0p1": sized(p1), b"/huge.img": zeros})
    limits = SftpLimits(max_file_bytes=1 << 20)
    results = session(server, limits=limits).hash_files(
        [(b"/dev/endless", None), (b"/dev/mmcblk0p1", None), (b"/huge.img", 2 << 20)]
    )
    assert results == {
        b"/dev/endless": "cannot read: longer than the 1048576-byte limit",
        b"/dev/mmcblk0p1": hashlib.sha256(p1).hexdigest(),
        b"/huge.img": "cannot read: listed as 2097152 bytes, more than the 1048576-byte limit",
    }
    assert max(offset + length for path, offset, length in server.reads if path == b"/dev/endless") <= (1 << 20) + 4096
    assert not [r for r in server.reads if r[0] == b"/huge.img"]


def test_answers_in_one_byte_pieces_out_of_order_are_bounded() -> None:
    """Each short answer asks again for the rest; held out of order, those pieces are capped per file."""

    def one_byte(offset: int, length: int) -> bytes:
        return bytes(length if offset == 0 else 1)

    server = HostileSftp(files={b"/frag": one_byte}, hold=first_read, release_when_idle=True)
    results = session(server).hash_files([(b"/frag", 1 << 20)])
    assert results == {b"/frag": "cannot read: the device answered in more than 64 pieces out of order"}
    assert server.replies < 200


# -- listings: no end, no bottom, names no Linux server sends ---------------------------------------------------


def test_a_listing_that_never_ends_stops_at_the_entry_limit() -> None:
    """READDIR never says EOF and every batch holds fresh names: a CollectionError naming the limit."""
    fresh = iter(range(1 << 62))

    def endless(path: bytes, batch: int) -> list[tuple[bytes, int, int]]:
        del path, batch
        return [(b"f%d" % next(fresh), FILE, 0) for _ in range(1000)]

    sftp = session(HostileSftp(dirs=endless), limits=SftpLimits(max_entries=20_000))
    with pytest.raises(CollectionError, match=r"listing '/' stopped after 20000 entries \(the limit\)"):
        walk_count(sftp)
    assert SftpLimits().max_entries == 1_000_000


def test_empty_batches_count_against_the_entry_limit() -> None:
    """A server answering every READDIR with no names (never EOF) is stopped too."""

    def no_names(path: bytes, batch: int) -> list[tuple[bytes, int, int]]:
        del path, batch
        return []

    sftp = session(HostileSftp(dirs=no_names), limits=SftpLimits(max_entries=1000))
    with pytest.raises(CollectionError, match=r"stopped after 1000 entries \(the limit\)"):
        walk_count(sftp)


def test_a_directory_that_contains_itself_stops_at_the_depth_limit() -> None:
    """Every directory holds a directory 'a': the walk stops 64 levels down with the default limits."""
    sftp = session(HostileSftp(dirs=once([(b"a", DIR, 0)])))
    with pytest.raises(CollectionError, match=r"stopped at 'a(/a)+…': 64 levels deep \(the limit\)"):
        walk_count(sftp)


def test_a_walk_stops_at_the_byte_limit_of_names() -> None:
    names = [(b"n%03d" % i + b"x" * 96, FILE, 0) for i in range(200)]
    sftp = session(HostileSftp(dirs=once(names)))
    assert walk_count(sftp) == 200
    sftp = session(HostileSftp(dirs=once(names)), limits=SftpLimits(max_walk_bytes=10_000))
    with pytest.raises(CollectionError, match=r"stopped after 10000 bytes of names \(the limit\)"):
        walk_count(sftp)


def test_names_and_paths_longer_than_linux_allows_are_refused() -> None:
    """A 2 KiB name, a path past PATH_MAX, a 1 MiB symlink target: errors, not megabytes kept per entry."""
    sftp = session(HostileSftp(dirs=once([(b"x" * 2048, FILE, 0)])))
    with pytest.raises(SftpProtocolError, match=r"holds the name 'x+…' \(2048 bytes\)"):
        walk_count(sftp)

    deep = HostileSftp(dirs=once([(b"d" * 255, DIR, 0)]))
    with pytest.raises(CollectionError, match="a path longer than 4096 bytes"):
        walk_count(session(deep))

    sftp = session(HostileSftp(links={b"/etc/link": b"t" * (1 << 20)}))
    with pytest.raises(SftpProtocolError, match=r"READLINK of '/etc/link' answered with a target of 1048576 bytes"):
        sftp.readlinks([b"/etc/link"])


def test_a_file_listed_larger_than_the_limit_is_an_error_and_never_hashed() -> None:
    """A listed size is the device's word: one beyond max_file_bytes is not read by either method."""
    listing = [(b"rootfs.img", FILE, 1 << 40), (b"px4", FILE, 12)]
    sftp = session(HostileSftp(dirs=once(listing)))
    found: list[tuple[bytes, int | None]] = []
    result = list_tree(
        sftp, b"/", Selection.from_json({"include": ["**"]}), found=lambda p, s, _attrs: found.append((p, s))
    )
    assert found == [(b"/px4", 12)]
    big = result.components["rootfs.img"]
    assert big.error == "cannot read: listed as 1099511627776 bytes, more than the 68719476736-byte limit"
    assert big.attributes["size"] == 1 << 40
