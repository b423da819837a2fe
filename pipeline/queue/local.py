"""The embedded default queue: a durable append-only log on local disk with SQS semantics (at least
once, visibility timeout, dead letters), for `percus serve`. Its files and what survives a kill:
docs/architecture.md (Queue, raw writer, the store).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline import files
from pipeline.queue import dead_letters, scrub
from pipeline.queue._frames import HEADER, MAX_BODY, frame, scan
from pipeline.queue._ranges import Ranges
from pipeline.queue._segments import READ_CHUNK, Segments
from pipeline.queue.base import Message, QueueUnavailable
from pipeline.queue.dead_letters import DeadLetterLog

log = logging.getLogger(__name__)

_CORRUPT = re.compile(r"^corrupt-\d{20}\.bin$")
# Dead letters and bytes set aside as corrupt are kept for inspection as long as the SQS dead-letter
# queue keeps a message (deploy/template.py), then expire; looked for at most this often.
DEAD_LETTER_SECONDS = 7 * 86400
_EXPIRE_EVERY = 3600.0


@dataclass(frozen=True)
class Backlog:
    size: int  # bytes of the records waiting, framing included
    oldest: bytes | None  # the body of the oldest record waiting; None when none is


class QueueLocked(RuntimeError):
    """Another process (or another LocalQueue in this one) already sends to or receives from the queue
    directory."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder  # the pid in the lock file


@dataclass(frozen=True)
class _Scrub:
    """A scrub request taken up: done once the cursor reaches `until`, the log's end back then."""

    needles: tuple[bytes, ...]
    until: int
    records: int  # removed when it was taken up


# A delivered record waiting for its delete: (body, offset just past the record, monotonic time when it
# becomes visible again). A plain tuple of atomic values, which the garbage collector stops tracking: a
# writer's batch of in-flight records then never makes the collector walk the whole heap.
_InFlight = tuple[bytes, int, float]


class LocalQueue:
    io_bound = False

    def __init__(
        self,
        directory: Path,
        *,
        visibility_timeout: float = 60,
        max_receives: int = 5,
        segment_bytes: int = 64 * 1024 * 1024,
        segment_max_age: float = 3600,
        fsync: bool = False,
        sends: bool = True,
        receives: bool = True,
        sole_sender: bool = True,
    ) -> None:
        """`sends` and `receives` say which side of the queue this object is: both (one process uses
        the queue), or one of them, the other being another process's (docs/architecture.md). A
        sending side that is not the `sole_sender` shares the queue with other sending processes
        (`percus serve --workers`): each appends in turn, under the append lock across processes."""
        if not (sends or receives):
            raise ValueError("a queue sends, receives, or both")
        if not sole_sender and (not sends or receives):
            raise ValueError("only a sending side shares the queue with other senders")
        if visibility_timeout <= 0 or max_receives < 1 or segment_bytes < 1 or segment_max_age <= 0:
            raise ValueError("visibility_timeout, max_receives, segment_bytes and segment_max_age must be "
                             "positive")
        self.directory = Path(directory)
        files.make_dirs(self.directory)
        self.visibility_timeout = visibility_timeout
        self.max_receives = max_receives
        self.segment_bytes = segment_bytes
        # A segment is also rolled once its first record is this old (seconds), so that consumed records
        # are deleted within about that time even when too few events come to fill one.
        self.segment_max_age = segment_max_age
        self.fsync = fsync
        self.sends, self.receives = sends, receives
        # send() takes only the log's lock; receive()/delete() take the consume lock and the log's
        # briefly inside it (never the other way round).
        self._log = Segments(self.directory, segment_bytes=segment_bytes, fsync=fsync, sends=sends,
                             receives=receives)
        self._consume_lock = threading.Lock()
        self._inflight: dict[int, _InFlight] = {}
        self._reader: tuple[int, int] | None = None  # (segment base, fd) of the segment being read
        self._next_expiry = 0.0  # monotonic time to look for expired dead letters next
        self._scrubs: dict[str, _Scrub] = {}  # scrub requests taken up, by name
        self._dead_letters = DeadLetterLog(self.directory, fsync=fsync)
        # The receiving side's lock is `lock`, as it always was (a scrub request names its holder);
        # the sending side's is `send.lock`.
        self._fds: list[int] = []
        try:
            if receives:
                self._fds.append(_lock_directory(self.directory, "lock", "receives from"))
            if sends:
                self._fds.append(_lock_directory(self.directory, "send.lock", "sends to",
                                                 shared=not sole_sender))
            self._open()
        except BaseException:
            for fd in self._fds:
                os.close(fd)
            self._log.head.close()
            raise

    # -- opening ------------------------------------------------------------------------------

    def _open(self) -> None:
        self._log.open()
        if self.receives:
            self._load_state()
            self._drop_segments()

    def _saved_state(self) -> tuple[int, Ranges, dict[int, int], int]:
        """The receiving side's cursor, deleted ranges, receive counts and end of what was delivered,
        as last saved."""
        try:
            state = json.loads((self.directory / "state.json").read_bytes())
            cursor = int(state["cursor"])
            return (cursor, Ranges((int(a), int(b)) for a, b in state["deleted"]),
                    {int(off): int(n) for off, n in state["receive_counts"]},
                    int(state.get("delivered_until", cursor)))  # an older version's: every count listed
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError):
            # Starting over from the oldest segment only redelivers; it never loses a message.
            log.warning("queue %s: unreadable state.json, delivering again from the oldest segment",
                        self.directory)
        return self._log.bases[0], Ranges(), {}, self._log.bases[0]

    def _load_state(self) -> None:
        cursor, deleted, counts, delivered_until = self._saved_state()
        start, end = self._log.bases[0], self._log.write_end
        if cursor > end:
            log.warning("queue %s: cursor %d is past the end of the log %d", self.directory, cursor, end)
        # Segments may have been removed after the state was last written, and the log may have
        # lost a torn tail: keep the state inside the log that exists.
        cursor = min(max(cursor, start), end)
        self._deleted = Ranges((max(a, cursor), min(b, end)) for a, b in deleted.pairs())
        self._cursor = self._deleted.advance(cursor)
        # Receive counts: a record before `_delivered_until` was received once unless `_counts` says
        # otherwise, one after it never: the counts of a batch received once are not listed one by one.
        self._counts = {off: n for off, n in counts.items()
                        if self._cursor <= off < end and off not in self._deleted}
        self._delivered_until = min(max(delivered_until, self._cursor), end)
        self._read_pos = self._cursor

    # -- sending --------------------------------------------------------------------------------

    def send(self, bodies: Sequence[bytes]) -> None:
        """Append every body as one write, or none of them (then raise QueueUnavailable)."""
        for body in bodies:
            if not 0 < len(body) <= MAX_BODY:
                raise ValueError(f"a message body must be 1 to {MAX_BODY} bytes, got {len(body)}")
        if not bodies:
            return
        if not self.sends:
            raise TypeError(f"this queue on {self.directory} only receives")
        data = frame(bodies[0]) if len(bodies) == 1 else b"".join([frame(body) for body in bodies])
        with self._log.lock:
            if self._log.closed:
                raise QueueUnavailable(f"queue {self.directory} is closed")
            self._log.append(data)

    # -- receiving ------------------------------------------------------------------------------

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]:
        """Up to max_messages; waits up to wait_seconds for the first one, then returns what is there."""
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            with self._consume_lock:
                self._check_open()
                self._log.see_end()
                self._maintain()
                messages = self._collect(max_messages)
                seen = self._read_pos
                expiry = min((visible_at for _, _, visible_at in self._inflight.values()), default=None)
            now = time.monotonic()
            if messages or now >= deadline:
                return messages
            self._log.wait_for_append(seen, deadline - now if expiry is None else min(deadline, expiry) - now)

    def _check_open(self) -> None:
        if self._log.closed:
            raise QueueUnavailable(f"queue {self.directory} is closed")
        if not self.receives:
            raise TypeError(f"this queue on {self.directory} only sends")

    def _maintain(self) -> None:
        """Roll the write segment once it is segment_max_age old and drop what that leaves consumed;
        expire old dead letters; carry out scrub requests. Runs on each receive: a consumer polls
        (percus serve's writer at least every 0.5 s), so a consumed record goes within about
        segment_max_age, once the records beside it are consumed too."""
        now = time.monotonic()
        segments = self._log
        with segments.lock:
            aged = (segments.since is not None and now - segments.since >= self.segment_max_age
                    and segments.write_end > segments.bases[-1])
            if aged:
                try:
                    segments.roll_written(self._read_pos)
                except QueueUnavailable as exc:  # the next receive tries again
                    log.warning("%s", exc)
                    aged = False
        if aged:
            self._drop_segments()
        if now >= self._next_expiry:
            self._next_expiry = now + _EXPIRE_EVERY
            self._expire()
        self._scrub()

    def _collect(self, limit: int) -> list[Message]:
        now = time.monotonic()
        inflight = self._inflight
        candidates = [(off, end, body) for off, (body, end, visible_at) in inflight.items()
                      if visible_at <= now][:limit] if inflight else []
        fresh = self._read(limit - len(candidates)) if len(candidates) < limit else []
        # Records never received before (the usual case, taken in bulk), and the others: received before
        # this session's reading or visible again, whose receive counts decide their fate.
        once_before, counts = self._delivered_until, self._counts
        if fresh and (fresh[0][0] < once_before or counts):
            candidates += [record for record in fresh if record[0] < once_before or record[0] in counts]
            fresh = [record for record in fresh if record[0] >= once_before and record[0] not in counts]
        messages = self._deliver_again(candidates, now) if candidates else []
        visible_at = now + self.visibility_timeout
        for off, end, body in fresh:
            inflight[off] = (body, end, visible_at)
            messages.append(Message(body, str(off), 1))
        # Everything read is delivered (or buried): the records before the read position were received.
        self._delivered_until = max(self._delivered_until, self._read_pos)
        if candidates or fresh:
            self._settle()
        return messages

    def _deliver_again(self, candidates: list[tuple[int, int, bytes]], now: float) -> list[Message]:
        """Records received before: delivered with their receive count, or buried once past max_receives."""
        delivered: list[tuple[int, int, bytes, int]] = []  # (offset, end, body, receive count)
        dead: list[tuple[int, int, bytes, int]] = []
        counts, once_before = self._counts, self._delivered_until
        for off, end, body in candidates:
            count = counts.get(off, 1 if off < once_before else 0) + 1
            (dead if count > self.max_receives else delivered).append((off, end, body, count))
        if dead:
            try:
                self._bury(dead)
            except OSError as exc:
                # Keep them tracked, unchanged, and try again when they next become visible.
                log.error("queue %s: cannot write the dead-letter log: %s", self.directory, exc.strerror)
                for off, end, body, _ in dead:
                    self._inflight[off] = (body, end, now + self.visibility_timeout)
            else:
                for off, end, _, _ in dead:
                    self._inflight.pop(off, None)
                    self._counts.pop(off, None)
                    self._deleted.add(off, end)
        messages = []
        for off, end, body, count in delivered:
            self._inflight.pop(off, None)  # re-insert: the dict stays in delivery order
            self._inflight[off] = (body, end, now + self.visibility_timeout)
            if count > 1 or off < once_before:
                counts[off] = count
            messages.append(Message(body, str(off), count))
        return messages

    def _read(self, limit: int) -> list[tuple[int, int, bytes]]:
        """Records never delivered in this session, from the read position on (skipping deleted ones)."""
        with self._log.lock:
            bases, write_end = list(self._log.bases), self._log.write_end
        out: list[tuple[int, int, bytes]] = []
        while len(out) < limit and self._read_pos < write_end:
            i = bisect_right(bases, self._read_pos) - 1
            base = bases[i]
            segment_end = bases[i + 1] if i + 1 < len(bases) else write_end
            fd = self._reader_fd(base)
            chunk = os.pread(fd, min(READ_CHUNK, segment_end - self._read_pos), self._read_pos - base)
            records, consumed, corrupt = scan(chunk, limit - len(out))
            deleted = self._deleted if self._deleted else ()  # usually none beyond the cursor
            for pos, body in records:
                off = self._read_pos + pos
                if off not in deleted:
                    out.append((off, off + HEADER.size + len(body), body))
            if not corrupt and consumed == 0 and self._log.shared and i == len(bases) - 1:
                break  # a record being written, or torn by a sender killed while writing it
            if corrupt or consumed == 0:
                # Every byte below the write end was written whole, so this is damage on disk.
                self._quarantine(fd, base, self._read_pos + consumed, segment_end)
            else:
                self._read_pos += consumed
        return out

    def _reader_fd(self, base: int) -> int:
        if self._reader is None or self._reader[0] != base:
            self._close_reader()
            self._reader = (base, os.open(self._log.path(base), os.O_RDONLY))
        return self._reader[1]

    def _close_reader(self) -> None:
        if self._reader is not None:
            os.close(self._reader[1])
            self._reader = None

    def _quarantine(self, fd: int, base: int, start: int, end: int) -> None:
        """Set aside the unreadable rest of a segment so the records after it can still flow."""
        path = self.directory / f"corrupt-{start:020d}.bin"
        files.write(path, os.pread(fd, end - start, start - base))
        files.stamp(path)  # aged by _expire against time.time()
        log.error("queue %s: %d unreadable bytes at offset %d moved to %s", self.directory,
                  end - start, start, path.name)
        self._deleted.add(start, end)
        for off in [off for off in self._counts if start <= off < end]:
            del self._counts[off]
        self._read_pos = end

    def _bury(self, dead: list[tuple[int, int, bytes, int]]) -> None:
        # The log counts the receives that went unanswered: the one past max_receives never happened.
        self._dead_letters.append([(off, body, count - 1) for off, _, body, count in dead])
        log.warning("queue %s: %d message(s) received %d times without being deleted moved to %s",
                    self.directory, len(dead), self.max_receives, dead_letters.NAME)

    def dead_letters(self) -> list[bytes]:
        """Bodies in the dead-letter log, oldest first."""
        with self._consume_lock:
            return self._dead_letters.bodies()

    def _expire(self) -> None:
        """Drop dead letters and corrupt bytes older than DEAD_LETTER_SECONDS, and scrub answers
        nobody read."""
        cutoff = time.time() - DEAD_LETTER_SECONDS
        try:
            for path in self._corrupt_files():
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            self._dead_letters.rewrite(lambda _, lettered_at: lettered_at >= cutoff)
            scrub.forget_answers(self.directory, _EXPIRE_EVERY)
        except OSError as exc:  # tried again at the next expiry
            log.error("queue %s: cannot expire old dead letters: %s", self.directory, exc)

    def _corrupt_files(self) -> list[Path]:
        return [path for path in self.directory.iterdir() if _CORRUPT.fullmatch(path.name)]

    # -- scrubbing ------------------------------------------------------------------------------

    def _scrub(self) -> None:
        """Carry out scrub requests (pipeline/queue/scrub.py). Taking one up rolls the write segment,
        so every record it concerns lies in segments deleted once consumed, and removes those records
        holding a needle that no consumer holds now (one that does writes them to the store before it
        deletes them). Once the cursor has passed them all, those segments are gone: the dead letters
        and corrupt bytes holding a needle go, and the request is answered."""
        for name, needles in scrub.pending(self.directory):
            try:
                job = self._scrubs.get(name)
                if job is None:
                    job = self._scrubs[name] = self._take_up(needles)
                if self._cursor >= job.until:
                    self._finish(name, job)
                    del self._scrubs[name]
            except (OSError, QueueUnavailable) as exc:  # tried again at the next receive
                log.error("queue %s: cannot carry out scrub request %s: %s", self.directory, name, exc)

    def _finish(self, name: str, job: _Scrub) -> None:
        buried = self._dead_letters.rewrite(lambda body, _: not _holds(body, job.needles))
        corrupt = [path for path in self._corrupt_files() if _holds(path.read_bytes(), job.needles)]
        for path in corrupt:
            path.unlink()
        scrub.reply(self.directory, name, scrub.ScrubResult(job.records, buried, len(corrupt)))

    def _take_up(self, needles: tuple[bytes, ...]) -> _Scrub:
        with self._log.lock:
            self._log.roll_written(self._read_pos)
            until, bases = self._log.write_end, list(self._log.bases)
        now = time.monotonic()
        removed = 0
        for off, end, body in self._records(self._cursor, until, bases):
            held = self._inflight.get(off)
            if (held is None or held[2] <= now) and _holds(body, needles):
                self._inflight.pop(off, None)
                self._counts.pop(off, None)
                self._deleted.add(off, end)
                removed += 1
        self._settle()
        # The cursor may have passed records removed ahead of the reader: never read them.
        self._read_pos = max(self._read_pos, self._cursor)
        return _Scrub(needles, until, removed)

    def _records(self, start: int, end: int, bases: list[int],
                 deleted: Ranges | None = None) -> Iterator[tuple[int, int, bytes]]:
        """(offset, end, body) of each record in [start, end) not deleted, read without moving the read
        position. A damaged stretch is passed over to the end of its segment: the reader sets it aside
        when it gets there."""
        gaps = iter((self._deleted if deleted is None else deleted).pairs())
        gap = next(gaps, None)
        pos = start
        while pos < end:
            while gap is not None and gap[1] <= pos:
                gap = next(gaps, None)
            if gap is not None and gap[0] <= pos:
                pos = gap[1]
                continue
            i = bisect_right(bases, pos) - 1
            segment_end = min(bases[i + 1], end) if i + 1 < len(bases) else end
            stop = segment_end if gap is None else min(segment_end, gap[0])
            chunk = os.pread(self._reader_fd(bases[i]), min(READ_CHUNK, stop - pos), pos - bases[i])
            records, consumed, corrupt = scan(chunk, limit=len(chunk))
            for at, body in records:
                yield pos + at, pos + at + HEADER.size + len(body), body
            pos = segment_end if corrupt or consumed == 0 else pos + consumed

    def backlog(self) -> Backlog:
        """What the writer has not yet deleted (taken, in flight, or never delivered), for GET /metrics.
        The sending side alone sees it as the receiving process last saved it."""
        if not self.receives:
            return self._backlog_as_saved()
        with self._consume_lock:
            self._check_open()
            self._log.see_end()
            with self._log.lock:
                bases, end = list(self._log.bases), self._log.write_end
            deleted = sum(stop - start for start, stop in self._deleted.pairs())
            oldest = next(self._records(self._cursor, end, bases), None)
            return Backlog(end - self._cursor - deleted, oldest[2] if oldest is not None else None)

    def _backlog_as_saved(self) -> Backlog:
        with self._consume_lock:  # the reader's file descriptor, unused otherwise on this side
            if self._log.closed:
                raise QueueUnavailable(f"queue {self.directory} is closed")
            with self._log.lock, self._log.across_processes():
                bases = self._log.listed()
                head = self._log.head.read()
                # Other senders may have appended since this one did: `head` says how far.
                end = head[1] if head is not None else self._log.write_end
            cursor, deleted, _, _ = self._saved_state()
            cursor = min(max(cursor, bases[0]), end)
            deleted = Ranges((max(a, cursor), min(b, end)) for a, b in deleted.pairs())
            try:
                oldest = next(self._records(cursor, end, bases, deleted), None)
            except FileNotFoundError:  # consumed meanwhile
                oldest = None
            finally:
                self._close_reader()
            size = end - cursor - sum(stop - start for start, stop in deleted.pairs())
            return Backlog(max(0, size), oldest[2] if oldest is not None else None)

    # -- deleting -------------------------------------------------------------------------------

    def delete(self, receipts: Sequence[str]) -> None:
        with self._consume_lock:
            self._check_open()
            spans = []
            inflight, counts = self._inflight, self._counts
            for off in self._offsets(receipts):
                entry = inflight.pop(off, None)
                if entry is None:  # already deleted or dead-lettered
                    continue
                if counts:  # mostly empty: records received once are not listed
                    counts.pop(off, None)
                spans.append((off, entry[1]))
            if spans:
                # A batch's records are mostly adjacent: merge them first, then add a few ranges.
                spans.sort()
                start, end = spans[0]
                for span_start, span_end in spans[1:]:
                    if span_start > end:
                        self._deleted.add(start, end)
                        start = span_start
                    end = max(end, span_end)
                self._deleted.add(start, end)
                self._settle()

    def release(self, receipts: Sequence[str], delay: float) -> None:
        """Visible again after `delay`; the delivery no longer counts toward max_receives, so a long
        store outage never buries good messages in the dead-letter log."""
        with self._consume_lock:
            self._check_open()
            visible_at = time.monotonic() + max(0.0, delay)
            for off in self._offsets(receipts):
                entry = self._inflight.get(off)
                if entry is None:  # deleted, dead-lettered, or already visible again and taken
                    continue
                self._inflight[off] = (entry[0], entry[1], visible_at)
                count = self._counts.get(off, 1 if off < self._delivered_until else 0)
                if count > 0:
                    self._counts[off] = count - 1
            self._save_state()

    def _offsets(self, receipts: Sequence[str]) -> list[int]:
        try:
            return [int(receipt) for receipt in receipts]
        except ValueError:
            bad = next(r for r in receipts if not r.lstrip("-").isdigit())
            raise ValueError(f"{bad!r} is not a receipt of this queue") from None

    def _settle(self) -> None:
        """Advance the cursor over deleted records, persist the state, drop consumed segments."""
        self._cursor = self._deleted.advance(self._cursor)
        self._save_state()
        self._drop_segments()

    def _save_state(self) -> None:
        state = {
            "cursor": self._cursor,
            "deleted": self._deleted.pairs(),
            "receive_counts": list(self._counts.items()),
            "delivered_until": self._delivered_until,
        }
        try:
            files.replace(self.directory / "state.json", json.dumps(state, separators=(",", ":")).encode(),
                          fsync=self.fsync)
        except OSError as exc:
            # The state in memory is right; an older one on disk only means redelivery after a crash.
            log.warning("queue %s: cannot save state.json: %s", self.directory, exc.strerror)

    def _drop_segments(self) -> None:
        for base in self._log.drop_below(self._cursor):
            if self._reader is not None and self._reader[0] == base:
                self._close_reader()
            self._log.path(base).unlink(missing_ok=True)

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        with self._consume_lock, self._log.lock:
            if self._log.closed:
                return
            if self.receives:
                self._save_state()
                self._close_reader()
            self._log.close()
            for fd in self._fds:
                os.close(fd)  # releases the flocks

    def __enter__(self) -> LocalQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _lock_directory(directory: Path, name: str, does: str, *, shared: bool = False) -> int:
    """The lock of one side of the queue: held by one process, or `shared` by several of a kind."""
    path = directory / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, files.FILE_MODE)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise QueueLocked(
            f"queue directory {directory} is already in use (pid {holder} holds {path}); "
            f"one process at a time {does} a queue directory", holder
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd




def _holds(data: bytes, needles: tuple[bytes, ...]) -> bool:
    return any(needle in data for needle in needles)
