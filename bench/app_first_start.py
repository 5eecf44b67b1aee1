"""Measure the first start of the real app: ``streamlit run app.py`` on an empty store until the overview
shows the demo (its three charts), talking to the server over its websocket like a browser tab would.

    python bench/app_first_start.py [--port 8599] [--db PATH]

Prints one JSON line: seconds (from launching the server) to /_stcore/health, until the overview's three
charts arrived (``overview_charts_s``: demo built in between) and until the first run finished (the demo's
annotation runs after the page is drawn), how many progress updates were shown, the KPI cards, alerts and
any exception shown. When the app shows its sign-in form first (components/auth.py), the client submits the
built-in demo account (``demo``/``demo``) like a person would; ``signed_in_s`` says when, and the chart
time includes the sign-in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parent.parent


def wait_for_health(port: int, deadline: float) -> bool:
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


# Keys of the sign-in form's inputs (components/auth.py) and the demo account (data/users.py, password =
# user name) the benchmark signs in with.
SIGN_IN_FIELDS = ("auth_username", "auth_password")
DEMO_ACCOUNT = "demo"


def _sign_in_message(ids: dict[str, str], page: str, query: str) -> BackMsg:
    msg = BackMsg()
    msg.rerun_script.query_string = query
    msg.rerun_script.page_script_hash = ""
    msg.rerun_script.page_name = page
    widgets = msg.rerun_script.widget_states.widgets
    for field in SIGN_IN_FIELDS:
        widgets.add(id=ids[field], string_value=DEMO_ACCOUNT)
    widgets.add(id=ids["submit"], trigger_value=True)
    return msg


async def first_page(
    port: int, timeout: float, started: float, page: str = "", query: str = ""
) -> dict[str, object]:
    """Open a session, ask for ``page`` (default page if empty); collect elements until the charts arrived."""
    seen: dict[str, object] = {
        "plotly_charts": 0, "progress_bars": 0, "metrics": {}, "exceptions": [], "alerts": [],
        "sidebar_filters": [],
    }
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"], max_size=None,
        ping_interval=None,  # a busy server (building the demo) may not answer pings; browsers do not ping
        open_timeout=60,
    ) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = query
        msg.rerun_script.page_script_hash = ""
        msg.rerun_script.page_name = page
        await ws.send(msg.SerializeToString())
        sign_in: dict[str, str] = {}  # widget ids of the sign-in form (components/auth.py), when it is shown
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            raw = await asyncio.wait_for(ws.recv(), timeout=end - time.monotonic())
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                etype = element.WhichOneof("type")
                if etype == "plotly_chart":
                    seen["plotly_charts"] = int(seen["plotly_charts"]) + 1  # type: ignore[call-overload]
                    if seen["plotly_charts"] == 3:
                        seen["overview_charts_s"] = round(time.monotonic() - started, 2)
                elif etype == "progress":
                    seen["progress_bars"] = int(seen["progress_bars"]) + 1  # type: ignore[call-overload]
                elif etype == "metric":
                    seen["metrics"][element.metric.label] = element.metric.body  # type: ignore[index]
                elif etype == "multiselect" and "-filter_" in element.multiselect.id:
                    key = element.multiselect.id.split("-filter_", 1)[1]
                    seen["sidebar_filters"].append(key)  # type: ignore[union-attr]
                elif etype == "alert":
                    seen["alerts"].append(element.alert.body[:200])  # type: ignore[union-attr]
                elif etype == "exception":
                    seen["exceptions"].append(element.exception.message)  # type: ignore[union-attr]
                elif etype == "text_input":
                    for field in SIGN_IN_FIELDS:
                        if element.text_input.id.endswith(field):
                            sign_in[field] = element.text_input.id
                elif etype == "button" and element.button.is_form_submitter:
                    sign_in["submit"] = element.button.id
            elif kind == "script_finished" and int(seen["plotly_charts"]) >= 3:  # type: ignore[call-overload]
                return seen
            elif kind == "script_finished" and len(sign_in) == 3 and "signed_in_s" not in seen:
                # The app asks for a sign-in first: submit the built-in demo account, as a person would.
                await ws.send(_sign_in_message(sign_in, page, query).SerializeToString())
                seen["signed_in_s"] = round(time.monotonic() - started, 2)
    raise TimeoutError(f"the overview did not finish within {timeout:.0f} s: {seen}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8599)
    parser.add_argument("--db", type=Path, default=None, help="store file (default: a new temporary one)")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--page", default="", help="URL path of the first request, e.g. overview (deep link)")
    parser.add_argument("--query", default="", help="query string of the first request, e.g. brands=华为")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "first_start.duckdb"
    env = {**os.environ, "TINGJIAN_DB": str(db)}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(args.port)]
    started = time.monotonic()
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        if not wait_for_health(args.port, started + 60):
            print(json.dumps({"error": "no health answer within 60 s"}))
            return 1
        health_s = time.monotonic() - started
        seen = asyncio.run(first_page(args.port, args.timeout, started, args.page, args.query))
        finished_s = time.monotonic() - started
        print(json.dumps({"store": str(db), "health_s": round(health_s, 2),
                          "first_run_finished_s": round(finished_s, 2), **seen}, ensure_ascii=False))
        return 0 if not seen["exceptions"] else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
