"""Single HTTP requests on each of Disqueue's HTTP stacks, beside the bare references, in
one run (issue 14, decision 0015).

Rows, each measured with `wrk -t1 -c50` (form bodies, 100-byte values), `--rounds`
rounds alternating row by row, the median round kept:

- the bare reference: a uvloop protocol on httptools that parses the form and answers
  the envelope (bench/reference_httptools.py): what Python can do at all;
- the aiohttp reference: the least an aiohttp app does for the same (reference_app.py);
- Disqueue, memory storage and SQLite (`sync: full`, the durable default), its listener
  on the fast stack (`"http": "fast"`, the default) and on aiohttp (`"http": "aiohttp"`,
  what every request went through before).

put is `POST /put` into a new queue; take is `POST /take` from a queue filled first
with more items than the run takes. The original C server is not here (we do not have
its source); issue 14 measured it on this kind of machine at 1.32x the bare reference
(38,600 puts/s against 29,300), so "x C (est.)" is requests/s over 1.32x the bare
reference of the same run; the last two columns divide by the C server's own figures
from the issue instead (another run, another load). The target: 0.5x on memory, 0.35x
on the durable default.

Run: .venv/bin/python bench/http_stacks.py [--rounds 3] [--duration 4]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics

from fill import create_queue, delete_queue, fill
from run import bare_reference, disqueue_server, reference_app
from wrkrun import Load, wrk

#: The original C server as issue 14 measured it (wrk -t1 -c50, form bodies), and
#: against the bare reference of that run.
C_SERVER = {"put": 38_600, "take": 34_500}
C_OVER_BARE = 38_600 / 29_300
SQLITE = {"type": "sqlite", "path": "data/disqueue.db", "sync": "full"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    args = parser.parse_args()
    load = Load(connections=50, threads=1, duration=args.duration)
    with contextlib.ExitStack() as stack:
        bare = stack.enter_context(bare_reference())
        if bare is None:
            raise SystemExit("httptools is needed: make .venv/.bench-deps")
        targets: dict[str, str] = {
            "bare uvloop+httptools": bare,
            "aiohttp reference app": stack.enter_context(reference_app()),
        }
        for storage, label in ((None, "memory"), (SQLITE, "SQLite sync=full")):
            for http in ("fast", "aiohttp"):
                base, _ = stack.enter_context(disqueue_server(storage, http))
                targets[f"Disqueue {label}, {http}"] = base
        results: dict[str, dict[str, list[float]]] = {
            name: {"put": [], "take": []} for name in targets
        }
        for name, base in targets.items():  # warm up
            run(name, base, load, warm=True)
        for round_ in range(args.rounds):
            for name, base in targets.items():
                for row, rps in run(name, base, load).items():
                    results[name][row].append(rps)
            print(f"round {round_ + 1} of {args.rounds} done", flush=True)
    print_table(results)


def run(name: str, base: str, load: Load, warm: bool = False) -> dict[str, float]:
    """requests/s of put and take against one target."""
    short = Load(connections=load.connections, threads=1, duration=1.0) if warm else load
    if not name.startswith("Disqueue"):
        return {row: wrk(base, "ref.lua", [row], short)["rps"] for row in ("put", "take")}
    queue = create_queue(base)
    put = wrk(base, "put.lua", [queue], short)
    # more than a take run takes, whatever the stack: put's own count, then topped up
    fill(base, queue, max(1, int(put["requests"] * 1.5)), short)
    take = wrk(base, "take.lua", [queue], short)
    delete_queue(base, queue)
    if take.get("non2xx", 0):
        print(f"  {name}: take ran the queue empty ({take['non2xx']} answers not 200)")
    return {"put": put["rps"], "take": take["rps"]}


def print_table(results: dict[str, dict[str, list[float]]]) -> None:
    medians = {
        name: {row: statistics.median(v) for row, v in rows.items()}
        for name, rows in results.items()
    }
    bare = medians["bare uvloop+httptools"]
    print()
    heads = ["put req/s", "take req/s", "put x bare", "take x bare", "put x C (est.)"]
    heads += ["take x C (est.)", "put / C's 38,600", "take / C's 34,500"]
    print("| row | " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * len(heads))
    for name, rows in medians.items():
        cells = [f"{rows['put']:,.0f}", f"{rows['take']:,.0f}"]
        cells += [f"{rows[r] / bare[r]:.2f}" for r in ("put", "take")]
        cells += [f"{rows[r] / (bare[r] * C_OVER_BARE):.2f}" for r in ("put", "take")]
        cells += [f"{rows[r] / C_SERVER[r]:.2f}" for r in ("put", "take")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for label in ("memory", "SQLite sync=full"):
        fast, slow = medians[f"Disqueue {label}, fast"], medians[f"Disqueue {label}, aiohttp"]
        put, take = fast["put"] / slow["put"], fast["take"] / slow["take"]
        print(f"{label}: fast / aiohttp: put {put:.2f}x, take {take:.2f}x")


if __name__ == "__main__":
    main()
