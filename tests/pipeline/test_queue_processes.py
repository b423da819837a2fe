"""One local queue directory used by several processes: sending ones (the gateway's workers) and a
receiving one (the writer), each side holding its own lock. Two LocalQueue objects in one process hold
their flocks apart just as two processes do; the kill -9 tests use real other processes."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from pipeline.queue import scrub
from pipeline.queue._frames import frame
from pipeline.queue._head import Head
from pipeline.queue.local import Backlog, LocalQueue, QueueLocked
from tests.pipeline._queue_sender import kill_sender_after


def sender(directory: Path, **options: float) -> LocalQueue:
    return LocalQueue(directory, receives=False, **options)  # type: ignore[arg-type]


def one_of_senders(directory: Path, **options: float) -> LocalQueue:
    return LocalQueue(directory, receives=False, sole_sender=False, **options)  # type: ignore[arg-type]


def receiver(directory: Path, **options: float) -> LocalQueue:
    return LocalQueue(directory, sends=False, **options)  # type: ignore[arg-type]


def drain(queue: LocalQueue) -> list[bytes]:
    out: list[bytes] = []
    while messages := queue.receive(1000, 0):
        out.extend(m.body for m in messages)
        queue.delete([m.receipt for m in messages])
    return out


def every_byte(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file())


def test_each_side_holds_its_own_lock(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with sender(directory), receiver(directory):
        with pytest.raises(QueueLocked, match=f"pid {os.getpid()}.*sends to"):
            sender(directory)
        with pytest.raises(QueueLocked, match=f"pid {os.getpid()}.*receives from"):
            receiver(directory)
        with pytest.raises(QueueLocked):  # one process using both sides needs both locks
            LocalQueue(directory)
    with sender(directory) as queue, pytest.raises(TypeError, match="only sends"):
        queue.receive(1, 0)
    with receiver(directory) as queue, pytest.raises(TypeError, match="only receives"):
        queue.send([b"x"])
    with pytest.raises(ValueError, match="sends, receives, or both"):
        LocalQueue(directory, sends=False, receives=False)


def test_what_one_process_sends_the_other_receives_once_in_order(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    sent = [f"message {i:03d}".encode() for i in range(60)]
    with sender(directory, segment_bytes=200) as out, receiver(directory, segment_bytes=200) as into:
        received: list[bytes] = []
        for i, body in enumerate(sent):
            out.send([body])
            if i % 7 == 0:
                received += drain(into)
        received += drain(into)
        assert received == sent
        # The sender rolled segments the receiver found; consumed ones are gone, the written one kept.
        assert len(list(directory.glob("*.seg"))) == 1
    with LocalQueue(directory) as queue:
        assert drain(queue) == []
        queue.send([b"after"])
        assert drain(queue) == [b"after"]


def test_a_receive_waits_for_the_other_process_to_send(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with sender(directory) as out, receiver(directory) as into:
        threading.Timer(0.1, out.send, args=([b"late"],)).start()
        [message] = into.receive(10, 30)  # returns as soon as it is there, well before 30 s
        assert message.body == b"late"


def test_the_receiver_rolls_a_quiet_queue_and_the_sender_follows(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with sender(directory) as out, receiver(directory, segment_max_age=0.2) as into:
        out.send([b"consumed-1"])
        into.delete([m.receipt for m in into.receive(10, 0)])
        assert b"consumed-1" in every_byte(directory)
        time.sleep(0.25)
        assert into.receive(10, 0) == []  # rolled by the receiver, without the sender
        assert b"consumed-1" not in every_byte(directory)
        out.send([b"after the roll"])  # appended to the segment the receiver started
        [segment] = directory.glob("*.seg")
        assert segment.read_bytes() == frame(b"after the roll")
        assert drain(into) == [b"after the roll"]


def test_a_scrub_is_carried_out_by_the_receiving_process(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with sender(directory) as out, receiver(directory) as into:
        out.send([b"V consumed", b"other consumed"])
        into.delete([m.receipt for m in into.receive(10, 0)])
        out.send([b"V waiting", b"other waiting"])
        name = scrub.ask(directory, ["V "])
        [waiting] = into.receive(10, 0)
        assert waiting.body == b"other waiting"
        out.send([b"V after the request"])  # into the segment the scrub started
        into.delete([waiting.receipt])
        assert drain(into) == [b"V after the request"]
        assert scrub.answer(directory, name) == scrub.ScrubResult(records=1, dead_letters=0, corrupt_files=0)
        assert b"V consumed" not in every_byte(directory) and b"V waiting" not in every_byte(directory)


def test_the_sending_side_sees_the_backlog_the_receiving_side_saved(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with sender(directory, segment_bytes=100) as out, receiver(directory, segment_bytes=100) as into:
        assert out.backlog() == into.backlog() == Backlog(0, None)
        out.send([f"message {i:02d}".encode() for i in range(20)])
        held = []
        for _ in range(2):
            taken = into.receive(3, 0)
            into.delete([m.receipt for m in taken[1:]])  # the first stays in flight: still backlog
            held.append(taken[0].receipt)
        assert out.backlog() == into.backlog()
        assert out.backlog().oldest == b"message 00"
        drain(into)
        into.delete(held)
        assert out.backlog() == Backlog(0, None)


def test_a_record_torn_by_a_killed_sender_is_never_delivered_nor_set_aside(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with sender(directory) as out:
        out.send([b"whole"])
    [segment] = directory.glob("*.seg")
    with receiver(directory, segment_max_age=0.2) as into:
        with segment.open("ab") as torn:  # what a sender killed in the middle of an append leaves
            torn.write(frame(b"never acknowledged")[:-3])
        assert drain(into) == [b"whole"]
        with sender(directory) as out:  # the restarted sender cuts it and appends after
            out.send([b"next"])
        assert drain(into) == [b"next"]
        with segment.open("ab") as torn:
            torn.write(frame(b"torn again")[:-3])
        time.sleep(0.25)
        assert into.receive(10, 0) == []  # the receiver's roll cuts it too
        with sender(directory) as out:
            out.send([b"last"])
        assert drain(into) == [b"last"]
        assert not list(directory.glob("corrupt-*"))
        assert b"never acknowledged" not in every_byte(directory)
        assert b"torn again" not in every_byte(directory)


@pytest.mark.slow
def test_a_receiving_process_gets_every_event_a_killed_sender_acknowledged(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    delivered: list[int] = []
    stop = threading.Event()

    def receive() -> None:  # all along, as the writer process does
        with receiver(directory, segment_bytes=64 * 1024) as into:
            while (messages := into.receive(1000, 0.05)) or not stop.is_set():
                delivered.extend(json.loads(m.body)["id"] for m in messages)
                into.delete([m.receipt for m in messages])

    directory.mkdir()
    thread = threading.Thread(target=receive)
    thread.start()
    try:
        acknowledged = kill_sender_after(directory, 20_000, first_id=0, segment_bytes=64 * 1024,
                                         receives=False)
        acknowledged |= kill_sender_after(directory, 20_000, first_id=1_000_000,  # a restarted gateway
                                          segment_bytes=64 * 1024, receives=False)
    finally:
        stop.set()
        thread.join()
    assert acknowledged <= set(delivered)
    assert len(delivered) == len(set(delivered))  # nothing delivered twice
    assert not list(directory.glob("corrupt-*"))  # a torn append is never taken for damage
    assert len(list(directory.glob("*.seg"))) <= 2  # consumed segments were deleted along the way


def test_senders_that_share_the_queue_append_in_turn(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with one_of_senders(directory, segment_bytes=300) as one, \
            one_of_senders(directory, segment_bytes=300) as two:
        with pytest.raises(QueueLocked, match="sends to"):  # the sole sender excludes them, and they it
            sender(directory)
        with receiver(directory, segment_bytes=300) as into:
            sent = []
            for i in range(40):  # each rolls segments the other then follows
                body = f"{'one' if i % 3 else 'two'} {i:03d}".encode()
                (one if i % 3 else two).send([body])
                sent.append(body)
            assert drain(into) == sent
            assert into.backlog() == Backlog(0, None)
    with pytest.raises(ValueError, match="only a sending side"):
        LocalQueue(directory, sole_sender=False)


def killed_appending(directory: Path, record: bytes) -> None:
    """What a sender killed in the middle of an append leaves: `head` says where the append would
    end, and the segment holds `record`, all of it or part."""
    [segment] = directory.glob("*.seg")
    head = Head(directory)
    head.map()
    state = head.read()
    assert state is not None
    head.intend(state[1] + len(record))  # at least: a torn record's whole length is more
    head.close()
    with segment.open("ab") as tail:
        tail.write(record)


def test_a_record_torn_by_a_killed_sender_is_cut_by_the_next_append_of_another(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with one_of_senders(directory) as one, one_of_senders(directory) as two, receiver(directory) as into:
        one.send([b"first"])
        killed_appending(directory, frame(b"never acknowledged")[:-3])  # `one`, in its next append
        two.send([b"second"])
        one.send([b"third"])
        assert drain(into) == [b"first", b"second", b"third"]
        killed_appending(directory, frame(b"written whole"))  # after its record, before `head` said so
        two.send([b"fourth"])
        assert drain(into) == [b"written whole", b"fourth"]  # never acknowledged, but whole: kept
        assert two.backlog() == Backlog(0, None)
    assert not list(directory.glob("corrupt-*"))
    assert b"never acknowledged" not in every_byte(directory)


def killed_rolling(directory: Path, *, named: bool) -> None:
    """What a process killed in the middle of a roll leaves (a sender's when its segment is full, the
    receiving process's when the log is old or scrubbed): either the new segment at the log's end made
    while `head` still names the old one, or `head` naming it while the file is not made yet."""
    head = Head(directory)
    head.map()
    state = head.read()
    assert state is not None and state[1] == state[2]
    if named:
        head.write(state[1], state[1])
    else:
        (directory / f"{state[1]:020d}.seg").touch()
    head.close()


@pytest.mark.parametrize("named", [False, True], ids=["segment made", "head changed"])
@pytest.mark.parametrize("rolls", [False, True], ids=["next send appends", "next send rolls"])
def test_a_roll_cut_short_by_a_kill_loses_no_acknowledged_event(tmp_path: Path, named: bool,
                                                                rolls: bool) -> None:
    directory = tmp_path / "q"
    small = {"segment_bytes": 64}
    second = b"second" * (20 if rolls else 1)
    with one_of_senders(directory, **small) as one, one_of_senders(directory, **small) as two, \
            receiver(directory, **small) as into:
        one.send([b"first"])
        assert drain(into) == [b"first"]
        killed_rolling(directory, named=named)
        two.send([second])
        one.send([b"third" * 20])  # rolls: past segment_bytes
        two.send([b"fourth"])
        assert drain(into) == [second, b"third" * 20, b"fourth"]
        assert two.backlog() == Backlog(0, None)
    killed_rolling(directory, named=named)  # then every process starts again
    with receiver(directory, **small) as into, one_of_senders(directory, **small) as one:
        one.send([b"fifth"])
        one.send([b"sixth" * 20])
        assert drain(into) == [b"fifth", b"sixth" * 20]
    assert not list(directory.glob("corrupt-*"))


@pytest.mark.slow
def test_a_receiving_process_gets_every_event_senders_acknowledged_when_one_is_killed(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    directory.mkdir()
    delivered: list[int] = []
    acknowledged: set[int] = set()
    others_done = threading.Event()

    def send(first_id: int, count: int, until: threading.Event | None = None) -> None:
        acknowledged.update(kill_sender_after(
            directory, count, first_id=first_id, segment_bytes=64 * 1024, receives=False,
            sole_sender=False, while_running=None if until is None else lambda _: until.wait(60)))

    # One sends all along; another is killed mid-stream beside it, and a third (its restart) follows.
    along = threading.Thread(target=send, args=(1_000_000, 1, others_done))
    with receiver(directory, segment_bytes=64 * 1024) as into:
        along.start()
        send(0, 20_000)
        send(2_000_000, 5_000)
        others_done.set()
        along.join()
        while messages := into.receive(1000, 0.05):
            delivered.extend(json.loads(m.body)["id"] for m in messages)
            into.delete([m.receipt for m in messages])
    assert len({i // 1_000_000 for i in acknowledged}) == 3
    assert acknowledged <= set(delivered)
    assert len(delivered) == len(set(delivered))
    assert not list(directory.glob("corrupt-*"))
