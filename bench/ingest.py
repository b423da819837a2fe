"""Ingest throughput: the real `percus serve` (gateway + durable local queue + writer) against a bare
Starlette endpoint answering 202, both under uvicorn on loopback, loaded by wrk in another process.

Also the servers' CPU per request (from /proc, so it holds on a busy machine where throughput does
not): during the load, split into the event-loop thread and the whole server (`percus serve`'s writer
process included), and until the server is idle again with every event sent written and compacted
(/metrics: no queue backlog, no compaction lag), which counts the writer's backlog when it fell
behind the load and the pipeline loop's compactions, that figure also split by process (gateway
workers, writer, the server process itself, which runs the pipeline loop). And the resident memory
of each of the servers' processes, idle (once ready) and under load (the peak while loaded).

With one worker and with `percus serve`'s default, one per core, each against bare Starlette with as
many uvicorn workers: the default's figures carry the plain names (`ingest single`, …).

    python -m bench.ingest [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench._harness import (
    Report,
    Resident,
    WrkResult,
    bare_server,
    free_port,
    percus_server,
    pipeline_caught_up,
    wrk,
)
from percus.serve import default_workers

# Each request carries fresh event ids, so the gateway's dedup never short-cuts the work.
LUA = r"""
math.randomseed(os.time())
local hex = "0123456789abcdef"
local function uuid()
  local t = {}
  for i = 1, 32 do local r = math.random(1, 16); t[i] = hex:sub(r, r) end
  t[13] = "4"
  local s = table.concat(t)
  return s:sub(1,8).."-"..s:sub(9,12).."-"..s:sub(13,16).."-"..s:sub(17,20).."-"..s:sub(21,32)
end
local session = uuid()
local function event()
  return '{"event_id":"'..uuid()..'","schema_version":"1","event_type":"video.progressed",'..
    '"occurred_at":"2026-11-25T10:00:00.123Z","sent_at":"2026-11-25T10:00:00.200Z",'..
    '"session_id":"'..session..'","template_id":"t-1","locale":"es-CL",'..
    '"viewer_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",'..
    '"consent":{"tracking":true},"payload":{"position_ms":15000,"percent":25}}'
end
local size = BATCH
local headers = {["Content-Type"] = "text/plain", ["Authorization"] = "Bearer TOKEN",
  ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " ..
                   "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}
request = function()
  local body
  if size == 0 then body = event() else
    local parts = {}
    for i = 1, size do parts[i] = event() end
    body = '{"events":['..table.concat(parts, ",")..']}'
  end
  return wrk.format("POST", "/analytics/v1/events", headers, body)
end
done = function(summary, latency, requests)  -- wrk --latency prints no 99.9th percentile
  io.write(string.format("p999_us %d\n", latency:percentile(99.9)))
end
"""


def script(token: str, batch: int) -> str:
    return LUA.replace("TOKEN", token).replace("BATCH", str(batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2-second runs (about 40 s in all)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    seconds = 2 if args.quick else 10
    report = Report("ingest")
    cores = default_workers()
    # One worker, then `percus serve`'s default (one per core), each against bare Starlette under
    # uvicorn with as many workers. The default's figures carry the plain names the goals read.
    for workers in sorted({1, cores}):
        _compare(report, seconds, workers, "" if workers == cores else f" ({workers} worker)")
    report.write_json(args.json)


def _compare(report: Report, seconds: float, workers: int, label: str) -> None:
    url = "/analytics/v1/events"
    with bare_server(free_port(), workers) as bare:
        with Resident(bare.pid) as bare_idle:
            pass
        wrk(bare + url, script("x", 0), 1)  # warm-up
        with Resident(bare.pid) as bare_loaded:
            bare_single = wrk(bare + url, script("x", 0), seconds, server_pid=bare.pid)
            bare_batch = wrk(bare + url, script("x", 100), seconds, connections=8, server_pid=bare.pid)
    print(f"{workers} worker{'s' if workers > 1 else ''}:", flush=True)
    report.add(f"bare starlette single{label}", bare_single.requests_per_s, "requests/s",
               p99_ms=bare_single.p99_ms, p999_ms=bare_single.p999_ms, workers=workers, **_cpu(bare_single))

    with percus_server(free_port(), workers) as (percus, token, _):
        with Resident(percus.pid) as idle:
            pass
        wrk(percus + url, script(token, 0), 1)
        caught_up = pipeline_caught_up(percus)  # "until idle": every event written and compacted
        with Resident(percus.pid) as loaded:
            single = wrk(percus + url, script(token, 0), seconds, server_pid=percus.pid, caught_up=caught_up)
            batch = wrk(percus + url, script(token, 100), seconds, connections=8, server_pid=percus.pid,
                        caught_up=caught_up)
    for name, result in (("single", single), ("batch", batch)):
        if result.errors:
            raise SystemExit(f"ingest {name}: {result.errors} requests were not answered 2xx")

    report.add(f"ingest single{label}", single.requests_per_s, "events/s",
               single.requests_per_s / bare_single.requests_per_s, "bare starlette", workers=workers,
               p50_ms=single.p50_ms, p99_ms=single.p99_ms, p999_ms=single.p999_ms, **_cpu(single))
    report.add(f"ingest single p99{label}", single.p99_ms, "ms", single.p99_ms / bare_single.p99_ms,
               "bare starlette", workers=workers)
    report.add(f"ingest single p999{label}", single.p999_ms, "ms", single.p999_ms / bare_single.p999_ms,
               "bare starlette", workers=workers)
    report.add(f"ingest batch(100){label}", batch.requests_per_s * 100, "events/s",
               batch.requests_per_s / bare_batch.requests_per_s, "bare starlette, same requests",
               workers=workers, p50_ms=batch.p50_ms, p99_ms=batch.p99_ms, p999_ms=batch.p999_ms,
               **_cpu(batch, events=100))
    for name, result, events in (("bare single", bare_single, 1), ("bare batch(100)", bare_batch, 100),
                                 ("ingest single", single, 1), ("ingest batch(100)", batch, 100)):
        unit = "event" if events > 1 else "request"
        during, settled = result.cpu_us(settled=False, events=events), result.cpu_us(events=events)
        roles = ", ".join(f"{_ROLES.get(role, role)} {settled[role]:.1f}"
                          for role in sorted(settled.keys() - {"main", "total"}))
        print(f"  {name}: server CPU per {unit} {during['total']:.1f} us during the load "
              f"(event loop threads {during['main']:.1f}), {settled['total']:.1f} us until idle "
              f"{result.settle_s:.1f} s later ({roles}); wrk used "
              f"{result.client_cpu_s / result.requests * 1e6:.1f} us per request", flush=True)
    for server_name, idle_rss, loaded_rss in (("bare starlette", bare_idle, bare_loaded),
                                              ("percus serve", idle, loaded)):
        for role in sorted(loaded_rss.peak):
            name = f"{server_name} {role} resident memory{label}"
            report.add(f"{name} idle", idle_rss.peak.get(role, 0) / 2**20, "MiB")
            report.add(f"{name} under load", loaded_rss.peak[role] / 2**20, "MiB")


# What each process of a server does, as the figures name them (bench/_harness.py `_role`): percus
# serve's own process runs the pipeline loop; bare Starlette's is uvicorn (its one worker, or the
# supervisor of its workers).
_ROLES = {"server": "server process", "gateway worker": "gateway workers", "writer": "writer",
          "other": "other"}


def _cpu(result: WrkResult, events: int = 1) -> dict[str, object]:
    return {"server_cpu_us": result.cpu_us(settled=False, events=events),
            "server_cpu_us_until_idle": result.cpu_us(events=events)}


if __name__ == "__main__":
    main()
