"""LocalQueue: the embedded default's durable on-disk queue."""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline import files
from pipeline.queue import scrub
from pipeline.queue._frames import frame, scan
from pipeline.queue.base import QueueUnavailable
from pipeline.queue.local import LocalQueue, QueueLocked

REPO = Path(__file__).resolve().parents[2]


def bodies_of(queue: LocalQueue, *, delete: bool = True) -> list[bytes]:
    """Everything visible now, in delivery order."""
    out = []
    while messages := queue.receive(1000, 0):
        out.extend(m.body for m in messages)
        if delete:
            queue.delete([m.receipt for m in messages])
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def every_byte(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file())


def test_send_receive_delete_in_order(tmp_path: Path) -> None:
    with LocalQueue(tmp_path / "q", visibility_timeout=0.2) as queue:
        queue.send([b"one", b"two"])
        queue.send([b"three"])
        messages = queue.receive(10, 0)
        assert [m.body for m in messages] == [b"one", b"two", b"three"]
        assert [m.receive_count for m in messages] == [1, 1, 1]
        queue.delete([m.receipt for m in messages])
        time.sleep(0.3)
        assert queue.receive(10, 0) == []


def test_delete_takes_receipts_in_any_order_with_gaps(tmp_path: Path) -> None:
    with LocalQueue(tmp_path / "q", visibility_timeout=0.2) as queue:
        queue.send([b"a", b"b", b"c", b"d", b"e", b"f"])
        receipts = {m.body: m.receipt for m in queue.receive(10, 0)}
        with pytest.raises(ValueError, match="not a receipt"):
            queue.delete([receipts[b"c"], "nonsense"])  # refused whole: c is not deleted either
        queue.delete([receipts[body] for body in (b"e", b"a", b"b", b"d")])
        time.sleep(0.3)
        assert bodies_of(queue) == [b"c", b"f"]  # the rest comes back, and only once


def test_receive_honours_max_messages(tmp_path: Path) -> None:
    with LocalQueue(tmp_path / "q") as queue:
        queue.send([f"m{i}".encode() for i in range(5)])
        assert [m.body for m in queue.receive(2, 0)] == [b"m0", b"m1"]
        assert [m.body for m in queue.receive(10, 0)] == [b"m2", b"m3", b"m4"]


def test_receive_waits_for_a_send_from_another_thread(tmp_path: Path) -> None:
    with LocalQueue(tmp_path / "q") as queue:
        timer = threading.Timer(0.1, queue.send, args=([b"late"],))
        timer.start()
        messages = queue.receive(10, 10)
        timer.join()
        assert [m.body for m in messages] == [b"late"]


def test_undeleted_message_comes_back_after_the_visibility_timeout(tmp_path: Path) -> None:
    with LocalQueue(tmp_path / "q", visibility_timeout=0.5) as queue:
        queue.send([b"a", b"b"])
        first = queue.receive(10, 0)
        queue.delete([first[0].receipt])
        assert queue.receive(10, 0) == []  # b is in flight
        again = queue.receive(10, 2)  # waits for the visibility timeout
        assert [(m.body, m.receive_count) for m in again] == [(b"b", 2)]


def test_message_received_too_often_goes_to_the_dead_letter_log(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory, visibility_timeout=0.1, max_receives=2) as queue:
        queue.send([b'{"poison": true}', b"\xff\xfe not utf-8", b"good"])
        first = queue.receive(10, 0)
        assert [m.receive_count for m in first] == [1, 1, 1]
        queue.delete([m.receipt for m in first if m.body == b"good"])
        second = queue.receive(10, 1)
        assert [m.receive_count for m in second] == [2, 2]
        time.sleep(0.15)
        assert queue.receive(10, 0) == []  # the third delivery would exceed max_receives
        assert queue.dead_letters() == [b'{"poison": true}', b"\xff\xfe not utf-8"]
    # The dead-letter log is plain JSON lines, readable without this code.
    lines = [json.loads(line) for line in (directory / "dead-letter.jsonl").read_text().splitlines()]
    assert lines[0]["body"] == '{"poison": true}' and lines[0]["receive_count"] == 2
    assert "body_base64" in lines[1]
    with LocalQueue(directory) as queue:
        assert bodies_of(queue) == []  # gone from the queue for good, also after reopening


def test_torn_record_at_the_tail_is_cut_and_earlier_records_kept(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory) as queue:
        queue.send([b"first", b"second"])
    (segment,) = segments(directory)
    good_size = segment.stat().st_size
    with open(segment, "ab") as handle:  # what a crash in the middle of an append leaves
        handle.write(frame(b"never acknowledged")[:13])
    with LocalQueue(directory) as queue:
        assert segment.stat().st_size == good_size
        queue.send([b"third"])
        assert bodies_of(queue) == [b"first", b"second", b"third"]


def test_record_with_a_bad_crc_at_the_tail_is_cut(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory) as queue:
        queue.send([b"kept"])
    (segment,) = segments(directory)
    bad = bytearray(frame(b"damaged"))
    bad[-1] ^= 0xFF
    with open(segment, "ab") as handle:
        handle.write(bytes(bad) + bytes(64))  # and trailing zeros, as some filesystems leave
    with LocalQueue(directory) as queue:
        assert bodies_of(queue) == [b"kept"]


def test_damaged_record_inside_the_log_is_set_aside_and_the_rest_flows(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory, segment_bytes=40) as queue:
        for body in (b"seg0-a", b"seg0-b", b"seg1-a", b"seg1-b", b"seg2-a"):
            queue.send([body])
    second = segments(directory)[1]
    data = bytearray(second.read_bytes())
    data[10] ^= 0xFF  # inside the body of the first record of the second segment
    second.write_bytes(bytes(data))
    with LocalQueue(directory, segment_bytes=40) as queue:
        assert bodies_of(queue) == [b"seg0-a", b"seg0-b", b"seg2-a"]
    (corrupt,) = directory.glob("corrupt-*.bin")
    assert corrupt.read_bytes() == bytes(data)  # kept for inspection


def test_cursor_and_receive_counts_survive_reopening(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory) as queue:
        queue.send([b"m0", b"m1", b"m2", b"m3", b"m4"])
        messages = queue.receive(10, 0)
        queue.delete([messages[i].receipt for i in (0, 1, 3)])
    with LocalQueue(directory) as queue:
        again = queue.receive(10, 0)
        assert [(m.body, m.receive_count) for m in again] == [(b"m2", 2), (b"m4", 2)]
        queue.delete([m.receipt for m in again])
    with LocalQueue(directory) as queue:
        assert queue.receive(10, 0) == []


def test_a_batch_received_once_is_saved_without_a_count_per_record(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory) as queue:
        queue.send([f"m{i}".encode() for i in range(1000)])
        assert len(queue.receive(1000, 0)) == 1000
        state = json.loads((directory / "state.json").read_bytes())
        assert state["receive_counts"] == []  # each received once: said by where delivery ended
        queue.send([b"later"])
    with LocalQueue(directory) as queue:
        again = queue.receive(2000, 0)
        assert [m.receive_count for m in again] == [2] * 1000 + [1]  # "later" was never received


def test_receive_counts_an_older_version_saved_one_by_one_still_count(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory) as queue:
        queue.send([b"a", b"b", b"c"])
        offsets = [int(m.receipt) for m in queue.receive(3, 0)]
    state = json.loads((directory / "state.json").read_bytes())
    del state["delivered_until"]  # as an older version wrote it: every count listed
    state["receive_counts"] = [[offsets[0], 1], [offsets[1], 3]]
    (directory / "state.json").write_text(json.dumps(state))
    with LocalQueue(directory) as queue:
        assert [(m.body, m.receive_count) for m in queue.receive(3, 0)] == [(b"a", 2), (b"b", 4), (b"c", 1)]


def test_unreadable_state_redelivers_rather_than_loses(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory) as queue:
        queue.send([b"a", b"b"])
        queue.delete([queue.receive(1, 0)[0].receipt])
    (directory / "state.json").write_text("{not json")
    with LocalQueue(directory) as queue:
        assert bodies_of(queue) == [b"a", b"b"]


def test_segments_roll_and_consumed_ones_are_deleted(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory, segment_bytes=100) as queue:
        sent = [f"message {i:03d}".encode() for i in range(30)]
        for body in sent:
            queue.send([body])
        rolled = segments(directory)
        assert len(rolled) > 3
        assert all(path.stat().st_size <= 100 for path in rolled)
        # Names are global offsets: each segment starts where the previous one ended.
        for before, after in itertools.pairwise(rolled):
            assert int(before.stem) + before.stat().st_size == int(after.stem)
        half = queue.receive(15, 0)
        queue.delete([m.receipt for m in half])
        remaining = segments(directory)
        assert rolled[0] not in remaining and rolled[-1] in remaining
        assert [m.body for m in half] + bodies_of(queue) == sent
        assert segments(directory) == [rolled[-1]]  # the segment being written is kept
    with LocalQueue(directory, segment_bytes=100) as queue:
        assert bodies_of(queue) == []
        queue.send([b"after"])
        assert bodies_of(queue) == [b"after"]


def test_consumed_records_of_a_quiet_queue_go_once_their_segment_is_old(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory, segment_max_age=0.3) as queue:
        queue.send([b"consumed-1"])
        queue.delete([m.receipt for m in queue.receive(10, 0)])
        assert b"consumed-1" in every_byte(directory)  # far from 64 MB: no size roll
        time.sleep(0.35)
        assert queue.receive(10, 0) == []  # a consumer's poll rolls the old segment and drops it
        assert b"consumed-1" not in every_byte(directory)
        queue.send([b"waiting"])
        time.sleep(0.35)
        [message] = queue.receive(10, 0)  # rolled too, but kept while a record in it is not consumed
        assert message.body == b"waiting" and b"waiting" in every_byte(directory)
        queue.delete([message.receipt])
        assert b"waiting" not in every_byte(directory)
        queue.send([b"after"])
    with LocalQueue(directory, segment_max_age=0.3) as queue:
        assert bodies_of(queue) == [b"after"]


def test_dead_letters_and_corrupt_bytes_expire_after_7_days(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    directory.mkdir()
    expired, kept = datetime.now(UTC) - timedelta(days=8), datetime.now(UTC) - timedelta(days=6)
    (directory / "dead-letter.jsonl").write_text("".join(
        json.dumps({"offset": offset, "receive_count": 5, "dead_lettered_at": at.isoformat(), "body": body})
        + "\n" for offset, at, body in [(0, expired, "old"), (10, kept, "recent")]))
    old, recent = directory / f"corrupt-{0:020d}.bin", directory / f"corrupt-{10:020d}.bin"
    for path, at in [(old, expired), (recent, kept)]:
        path.write_bytes(b"damaged")
        os.utime(path, (at.timestamp(), at.timestamp()))
    with LocalQueue(directory) as queue:
        assert queue.receive(10, 0) == []
        assert queue.dead_letters() == [b"recent"]
    assert sorted(directory.glob("corrupt-*")) == [recent]


def test_a_scrub_request_leaves_no_byte_of_the_records_it_names(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory, visibility_timeout=0.1, max_receives=1) as queue:
        queue.send([b"V dead", b"other dead"])
        queue.receive(10, 0)
        time.sleep(0.15)
        assert queue.receive(10, 0) == []
        assert queue.dead_letters() == [b"V dead", b"other dead"]
    for name in ("V corrupt", "other corrupt"):
        corrupt = directory / f"corrupt-{len(name):020d}.bin"
        corrupt.write_bytes(frame(name.encode()))
        files.stamp(corrupt)  # as the queue does when it sets bytes aside: aged by the process clock
    with LocalQueue(directory) as queue:
        queue.send([b"V consumed", b"other consumed"])
        queue.delete([m.receipt for m in queue.receive(10, 0)])
        queue.send([b"V held", b"other held"])
        held = queue.receive(10, 0)  # a writer's batch in progress: written and deleted by it
        queue.send([b"V waiting", b"other waiting"])
        name = scrub.ask(directory, ["V "])
        assert b"V " in every_byte(directory)
        [waiting] = queue.receive(10, 0)  # takes the request up first
        assert waiting.body == b"other waiting"
        assert scrub.answer(directory, name) is None  # held records are still to come
        queue.delete([m.receipt for m in [*held, waiting]])
        assert queue.receive(10, 0) == []
        assert scrub.answer(directory, name) == scrub.ScrubResult(records=1, dead_letters=1, corrupt_files=1)
        assert b"V " not in every_byte(directory)
        assert queue.dead_letters() == [b"other dead"]
        assert [path.read_bytes() for path in directory.glob("corrupt-*")] == [frame(b"other corrupt")]
        queue.send([b"V after the request"])  # a new event is not the request's
        assert bodies_of(queue) == [b"V after the request"]


def test_a_scrub_request_survives_a_restart_of_the_queue(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory) as queue:
        queue.send([b"V one", b"other one"])
        name = scrub.ask(directory, ["V "])
        held = queue.receive(1, 0)  # the request taken up, then the process stops
        assert [m.body for m in held] == [b"other one"]
    with LocalQueue(directory) as queue:
        assert bodies_of(queue) == [b"other one"]  # delivered again, never the removed one
        assert scrub.answer(directory, name) == scrub.ScrubResult(records=0, dead_letters=0, corrupt_files=0)
        assert b"V " not in every_byte(directory)


def test_concurrent_senders_and_a_consumer_lose_and_repeat_nothing(tmp_path: Path) -> None:
    with LocalQueue(tmp_path / "q", segment_bytes=4096) as queue:
        received: list[bytes] = []
        done = threading.Event()

        def consume() -> None:
            while True:
                finished = done.is_set()  # checked first: every send happened before done was set
                messages = queue.receive(100, 0.05)
                received.extend(m.body for m in messages)
                queue.delete([m.receipt for m in messages])
                if finished and not messages:
                    return

        def produce(worker: int) -> None:
            for i in range(300):
                queue.send([f"{worker}-{i}".encode()])

        consumer = threading.Thread(target=consume)
        consumer.start()
        producers = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join()
        done.set()
        consumer.join()
        assert sorted(received) == sorted(f"{w}-{i}".encode() for w in range(4) for i in range(300))


def test_bad_bodies_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory) as queue:
        with pytest.raises(ValueError, match="1 to 262144 bytes"):
            queue.send([b"fine", b""])
        with pytest.raises(ValueError, match="1 to 262144 bytes"):
            queue.send([b"x" * 262_145])
        queue.send([])
        assert segments(directory)[0].stat().st_size == 0
    with pytest.raises(QueueUnavailable, match="closed"):
        queue.send([b"too late"])


def test_fsync_mode_round_trips(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    with LocalQueue(directory, fsync=True, segment_bytes=64) as queue:
        queue.send([b"durable " * 5, b"also durable"])
        queue.send([b"next segment"])
        assert bodies_of(queue) == [b"durable " * 5, b"also durable", b"next segment"]


def test_a_second_opener_is_refused_with_the_directory_named(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    queue = LocalQueue(directory)
    with pytest.raises(QueueLocked, match=str(directory)) as refused:
        LocalQueue(directory)
    assert f"pid {os.getpid()}" in str(refused.value)
    queue.close()
    LocalQueue(directory).close()  # free again once closed


_DISK_FULL_CHILD = r"""
import json, resource, signal, sys
from pathlib import Path
from pipeline.queue.base import QueueUnavailable
from pipeline.queue.local import LocalQueue

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
directory = Path(sys.argv[1])
queue = LocalQueue(directory)
queue.send([b"before-%d" % i for i in range(10)])
(segment,) = directory.glob("*.seg")
size = segment.stat().st_size
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
# Room for part of the next send only: the kernel writes what fits, then refuses the rest.
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, hard))
result = {"size_before": size}
try:
    queue.send([b"x" * 80] * 5)
except QueueUnavailable as exc:
    result["error"] = str(exc)
result["size_after_failure"] = segment.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space comes back
queue.send([b"after"])
received = []
while messages := queue.receive(100, 0):
    received += [m.body.decode() for m in messages]
    queue.delete([m.receipt for m in messages])
result["received"] = received
print(json.dumps(result))
"""


def test_full_disk_fails_the_send_whole_and_the_queue_recovers(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    child = subprocess.run([sys.executable, "-c", _DISK_FULL_CHILD, str(directory)], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert "cannot append to queue" in result["error"]
    assert result["size_after_failure"] == result["size_before"]  # no partial record left behind
    assert result["received"] == [f"before-{i}" for i in range(10)] + ["after"]
    with LocalQueue(directory) as queue:  # and the log on disk reads back clean
        assert bodies_of(queue) == []


def test_released_messages_come_back_after_the_delay_without_counting(tmp_path: Path) -> None:
    with LocalQueue(tmp_path / "q", visibility_timeout=60, max_receives=1) as queue:
        queue.send([b"a", b"b"])
        first = {m.body: m for m in queue.receive(10, 0)}
        queue.release([first[b"a"].receipt], 0.2)
        assert queue.receive(10, 0) == []  # not yet
        time.sleep(0.3)
        [again] = queue.receive(10, 0)
        assert (again.body, again.receive_count) == (b"a", 1)  # the released delivery did not count
        with pytest.raises(ValueError, match="not a receipt"):
            queue.release(["nonsense"], 0)
    with LocalQueue(tmp_path / "q", visibility_timeout=60, max_receives=1) as queue:
        assert queue.dead_letters() == []  # and the count survived a restart as released


def test_backlog_is_what_the_writer_has_not_deleted_and_survives_a_reopen(tmp_path: Path) -> None:
    with LocalQueue(tmp_path) as queue:
        assert (queue.backlog().size, queue.backlog().oldest) == (0, None)
        queue.send([b"first", b"second", b"third"])
        assert queue.backlog().size == len(frame(b"first") + frame(b"second") + frame(b"third"))
        taken = queue.receive(2, 0)
        assert queue.backlog().oldest == b"first"  # taken but not deleted: still waiting
        queue.delete([taken[1].receipt])  # a gap past the cursor
        assert queue.backlog().size == len(frame(b"first") + frame(b"third"))
        queue.delete([taken[0].receipt])
        assert (queue.backlog().size, queue.backlog().oldest) == (len(frame(b"third")), b"third")
    with LocalQueue(tmp_path) as queue:
        assert (queue.backlog().size, queue.backlog().oldest) == (len(frame(b"third")), b"third")


def test_a_frame_is_its_length_then_zlibs_crc32_of_length_and_body() -> None:
    body = bytes(range(256)) * 3
    length = struct.pack("<I", len(body))
    assert frame(body) == length + struct.pack("<I", zlib.crc32(body, zlib.crc32(length))) + body
    assert scan(frame(body) + frame(b"x"), limit=5) == ([(0, body), (len(frame(body)), b"x")],
                                                        len(frame(body) + frame(b"x")), False)
