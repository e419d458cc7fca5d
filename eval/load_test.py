"""Load test of the chat page: /ask latency while an upload is being indexed.

Starts the page on 127.0.0.1 over a fresh index of the bundled sample corpus (or connects to a
running page with ``--url``), uploads one ~5 MB article file through the page's own upload event
(the same requests the browser sends), and as soon as the server has started indexing it sends
CLIENTS concurrent gradio_client clients x QUESTIONS questions to ``/ask``. Prints the errors and
the p50/p95 latency of all asks and of the asks that overlapped the indexing::

    .venv/bin/python eval/load_test.py                 # 8 clients x 10 questions, 5 MB upload
    .venv/bin/python eval/load_test.py --url http://127.0.0.1:7860/ --upload-mb 1

Every loop is bounded (a fixed number of questions, deadlines on every wait); nothing but
127.0.0.1 is contacted. Exits 1 when any ask failed. The upload is not waited for unless
``--wait-upload SECONDS`` says so: on a 2-core CPU a 5 MB article takes many minutes to embed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "Which US defence secretary visited Pakistan with the do more message?",
    "How many countries voted against Russia in the special UNGA session?",
    "What reward did the US offer for information on Hafiz Saeed?",
    "Who offered to mediate between Islamabad and New Delhi?",
    "What did Imran Khan say about the situation in Ukraine?",
    "How many countries abstained in the UNGA vote?",
    "Who won the 2022 FIFA World Cup?",
    "When did the US announce the reward for Hafiz Saeed?",
    "Which organisation did Hafiz Saeed found?",
    "Where did the special UNGA session take place?",
]
SERVER_START_S = 300  # model and index loading on a busy 2-core machine
STARTED_WAIT_S = 300  # until the server reports it is indexing the upload
ASK_TIMEOUT_S = 600


@dataclass
class UploadState:
    started: float | None = None  # the server began processing the upload event
    finished: float | None = None
    progress: str = ""
    result: str = ""
    error: str = ""
    server_path: str = ""  # where gradio put the uploaded file
    begun: threading.Event = field(default_factory=threading.Event)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def article_file(folder: Path, size: int) -> Path:
    """One plain-text article of ``size`` bytes: a headline, a dateline, and paragraphs of
    sentences drawn (deterministically) from the sample corpus."""
    from rag.ingest import SAMPLE_CORPUS

    sentences: list[str] = []
    for path in sorted(SAMPLE_CORPUS.glob("*.txt")):
        for paragraph in path.read_text(encoding="utf-8").split("\n\n")[1:]:
            sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", paragraph) if len(s.split()) > 5]
    rng = random.Random(7)
    parts = ["Archive digest of the regional press", "LAHORE: 12 March 2019"]
    total = sum(len(p) + 2 for p in parts)
    while total < size:
        paragraph = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 6)))
        parts.append(paragraph)
        total += len(paragraph) + 2
    data = "\n\n".join(parts).encode("utf-8")[: size - 2]  # bytes: the limit is on the file's size
    text = data.decode("utf-8", errors="ignore").rsplit(" ", 1)[0] + ".\n"
    path = folder / "press_digest.txt"
    path.write_text(text, encoding="utf-8")
    return path


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A fresh index of the sample corpus and the page over it, on a free loopback port."""
    from rag.ingest import SAMPLE_CORPUS

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    index_dir = workdir / "index"
    subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", str(SAMPLE_CORPUS), "--index", str(index_dir), "--quiet"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    port = free_port()
    log = open(workdir / "server.log", "w", encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-m", "ui.app", "--index", str(index_dir), "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, server)
    return server, url


def wait_until_up(url: str, server: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was up")
        try:
            if httpx.get(url + "config", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} did not come up within {SERVER_START_S} s")


def upload_event(config: dict) -> tuple[int, int, int]:
    """(fn_index, trigger id, number of inputs) of the "Add to index" button's click event."""
    button = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "rag-add")
    for i, dependency in enumerate(config["dependencies"]):
        if any(target[0] == button and target[1] == "click" for target in dependency.get("targets", [])):
            return dependency.get("id", i), button, len(dependency.get("inputs", []))
    raise SystemExit("the page has no upload event")


def upload(url: str, path: Path, state: UploadState, deadline: float) -> None:
    """Send ``path`` through the page's upload event, as the browser does, and follow it."""
    import httpx

    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            fn_index, trigger, n_inputs = upload_event(http.get("config").json())
            with path.open("rb") as handle:
                response = http.post("gradio_api/upload", files={"files": (path.name, handle, "text/plain")})
            response.raise_for_status()
            server_path = state.server_path = response.json()[0]
            session = uuid.uuid4().hex[:11]
            file_data = {
                "path": server_path, "orig_name": path.name, "size": path.stat().st_size,
                "mime_type": "text/plain", "meta": {"_type": "gradio.FileData"},
            }
            # inputs of the upload event: the files, then "replace articles with the same name" (off)
            inputs = [[file_data]] + [False] * (n_inputs - 1)
            joined = http.post("gradio_api/queue/join", json={
                "data": inputs, "event_data": None, "fn_index": fn_index,
                "trigger_id": trigger, "session_hash": session,
            })
            joined.raise_for_status()
            read_timeout = max(5.0, deadline - time.monotonic())
            with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session},
                             timeout=httpx.Timeout(30, read=read_timeout)) as stream:
                for line in stream.iter_lines():
                    if time.monotonic() > deadline:
                        break
                    if not line.startswith("data:"):
                        continue
                    message = json.loads(line[5:])
                    kind = message.get("msg")
                    if kind == "process_starts":
                        state.started = time.monotonic()
                        state.begun.set()
                    elif kind == "progress":
                        state.started = state.started or time.monotonic()
                        state.begun.set()
                        units = message.get("progress_data") or []
                        state.progress = "; ".join(str(u.get("desc") or "") for u in units)
                    elif kind == "process_completed":
                        state.finished = time.monotonic()
                        output = message.get("output") or {}
                        if message.get("success", True) and output.get("data"):
                            state.result = str(output["data"][0])
                        else:
                            state.error = str(output.get("error") or output)
                        break
    except Exception as exc:  # reported, not raised: the asks are what is measured
        state.error = f"{type(exc).__name__}: {exc}"
    finally:
        state.begun.set()


def client_run(url: str, client_no: int, questions: int) -> list[tuple[float, float, str | None]]:
    """One client asking ``questions`` questions in turn: (start, end, error) per ask."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    results = []
    for i in range(questions):
        question = QUESTIONS[(client_no + i) % len(QUESTIONS)]
        started = time.monotonic()
        error = None
        try:
            job = client.submit(question, [], api_name="/ask")
            record = job.result(timeout=ASK_TIMEOUT_S)
            if not isinstance(record, dict) or record.get("error"):
                error = f"{question!r}: {record.get('error') if isinstance(record, dict) else record!r}"
        except Exception as exc:
            error = f"{question!r}: {type(exc).__name__}: {exc}"
        results.append((started, time.monotonic(), error))
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running page on 127.0.0.1 (default: start one over the sample corpus)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--questions", type=int, default=10, help="questions per client")
    parser.add_argument("--upload-mb", type=float, default=4.9, help="size of the uploaded article (limit 5 MB)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the same asks without an upload first (the reference latency)")
    parser.add_argument("--wait-upload", type=float, default=0, metavar="SECONDS",
                        help="after the asks, wait this long for the upload to finish")
    args = parser.parse_args(argv)
    if args.url and urlparse(args.url).hostname not in ("127.0.0.1", "localhost"):
        parser.error("--url must be on 127.0.0.1 (loopback only)")
    if not (0 < args.clients <= 64 and 0 < args.questions <= 1000):
        parser.error("--clients must be 1-64 and --questions 1-1000")

    workdir = Path(tempfile.mkdtemp(prefix="rag-load-"))
    server = None
    state = UploadState()
    try:
        if args.url:
            url = args.url if args.url.endswith("/") else args.url + "/"
            wait_until_up(url)
        else:
            print("starting the page over the sample corpus…", flush=True)
            server, url = start_server(workdir)
        def run_clients() -> tuple[list[tuple[float, float, str | None]], float]:
            began = time.monotonic()
            with ThreadPoolExecutor(args.clients) as pool:
                runs = list(pool.map(lambda n: client_run(url, n, args.questions), range(args.clients)))
            return [result for run in runs for result in run], time.monotonic() - began

        baseline: list[tuple[float, float, str | None]] = []
        if not args.no_baseline:
            print(f"baseline: {args.clients} clients x {args.questions} questions to /ask, no upload…", flush=True)
            baseline, baseline_s = run_clients()
        article = article_file(workdir, int(args.upload_mb * 1024 * 1024))
        uploader = threading.Thread(
            target=upload, args=(url, article, state, time.monotonic() + STARTED_WAIT_S + ASK_TIMEOUT_S + args.wait_upload),
            daemon=True,
        )
        uploader.start()
        if not state.begun.wait(STARTED_WAIT_S):
            print(f"the upload did not start within {STARTED_WAIT_S} s", flush=True)
        print(f"upload of {article.name} ({article.stat().st_size / 2**20:.1f} MB) is being processed; "
              f"{args.clients} clients x {args.questions} questions to /ask…", flush=True)

        asks, took = run_clients()
        if args.wait_upload > 0:
            uploader.join(args.wait_upload)
        upload_end = state.finished if state.finished is not None else float("inf")
        overlapping = [
            end - start for start, end, _ in asks
            if state.started is not None and start < upload_end and end > state.started
        ]
        latencies = [end - start for start, end, _ in asks]
        errors = [error for _, _, error in baseline + asks if error]

        print(f"url: {url} (server {'started by this script' if server else 'given'}), "
              f"{args.clients} clients x {args.questions} questions, upload {article.stat().st_size / 2**20:.1f} MB")
        if baseline:
            quiet = [end - start for start, end, _ in baseline]
            print(f"no upload:               p50 {percentile(quiet, 50):.2f} s  p95 {percentile(quiet, 95):.2f} s  "
                  f"max {max(quiet):.2f} s  ({len(baseline)} asks in {baseline_s:.1f} s)")
        print(f"with the upload, all:    p50 {percentile(latencies, 50):.2f} s  p95 {percentile(latencies, 95):.2f} s  "
              f"max {max(latencies):.2f} s  ({len(asks)} asks in {took:.1f} s)")
        print(f"overlapping indexing:    p50 {percentile(overlapping, 50):.2f} s  p95 {percentile(overlapping, 95):.2f} s  "
              f"({len(overlapping)} asks overlapped the upload)")
        print(f"errors: {len(errors)}")
        for error in errors[:10]:
            print(f"  error: {error}")
        if state.finished is not None:
            took = state.finished - (state.started or state.finished)
            print(f"upload: finished after {took:.1f} s: {state.error or state.result[:200]!r}")
        elif state.error:
            print(f"upload: failed: {state.error}")
        else:
            print(f"upload: still indexing when the asks were done ({state.progress or 'no progress yet'})")
        return 1 if errors else 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(30)
            if state.server_path and state.finished is None:  # stopped mid-upload: gradio's copy stays
                left = Path(state.server_path)
                left.unlink(missing_ok=True)
                try:
                    left.parent.rmdir()
                except OSError:
                    pass
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
