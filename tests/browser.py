"""Headless Chromium driven over the Chrome DevTools Protocol, to look at a page as a person would.

A tiny client over one websocket (``websocket-client``): Debian's ``chromium`` is started with
a fresh profile and ``--remote-debugging-port=0``; the port comes from the profile's
``DevToolsActivePort`` file. One page target is attached in flat mode, and every event it sends
is kept, so a test can list the network requests and console messages of a page load.
Playwright would do the same with a 40 MB driver; its own browser download cannot run here.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

#: Flags for a root user in a container, with nothing contacted but what a page asks for.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Chromium:
    """One headless browser with one page; :meth:`close` ends the process and removes the profile."""

    def __init__(self, executable: str, width: int = 1100, height: int = 1400, timeout: float = 20.0):
        import websocket  # test-only dependency (the `test` extra)

        self.timeout = timeout
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        try:
            port, path = self._devtools_address()
            self.socket = websocket.create_connection(
                f"ws://127.0.0.1:{port}{path}", timeout=timeout, suppress_origin=True
            )
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Network", "Log", "Runtime", "DOM"):
                self.call(f"{domain}.enable", session=True)
            self.call("Emulation.setScriptExecutionDisabled", session=True, value=True)
            self.call(
                "Emulation.setDeviceMetricsOverride",
                session=True,
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.close()
            raise

    def _devtools_address(self) -> tuple[str, str]:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.process.returncode}")
            lines = marker.read_text().split() if marker.exists() else []
            if len(lines) == 2:
                return lines[0], lines[1]
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command (to the page when ``session``) and return its result; events are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            answer = json.loads(self.socket.recv())
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)
        raise TimeoutError(method)

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for seen in self.events:
                if seen.get("method") == event:
                    return seen
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(event)

    def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event (events of earlier pages are dropped)."""
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")
        self.call("DOM.getDocument", session=True)  # answered after the events already sent: they are kept

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and failed loads of the current page."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(f"log {params['entry']['level']}: {params['entry']['text']}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Network.loadingFailed":
                found.append(f"failed load: {params.get('errorText')}")
        return found

    def boxes(self, selector: str) -> list[tuple[float, float]]:
        """(width, height) of each element matching ``selector``, as laid out (no script needed)."""
        root = self.call("DOM.getDocument", session=True)["root"]["nodeId"]
        nodes = self.call("DOM.querySelectorAll", session=True, nodeId=root, selector=selector)["nodeIds"]
        sizes = []
        for node in nodes:
            model = self.call("DOM.getBoxModel", session=True, nodeId=node)["model"]
            sizes.append((model["width"], model["height"]))
        return sizes

    def outer_html(self, selector: str) -> str:
        root = self.call("DOM.getDocument", session=True)["root"]["nodeId"]
        node = self.call("DOM.querySelector", session=True, nodeId=root, selector=selector)["nodeId"]
        return self.call("DOM.getOuterHTML", session=True, nodeId=node)["outerHTML"]

    def screenshot(self, height: int | None = None) -> bytes:
        """A PNG of the page from its top: ``height`` CSS pixels, or the whole page."""
        size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": size["width"],
            "height": min(size["height"], height or size["height"]),
            "scale": 1,
        }
        data = self.call("Page.captureScreenshot", session=True, format="png", clip=clip, captureBeyondViewport=True)
        return base64.b64decode(data["data"])

    def pdf(self) -> bytes:
        """What "Print to PDF" gives: the print stylesheet, the page's own @page size."""
        data = self.call(
            "Page.printToPDF", session=True, printBackground=True, preferCSSPageSize=True, displayHeaderFooter=False
        )
        return base64.b64decode(data["data"])

    def close(self) -> None:
        socket = getattr(self, "socket", None)
        if socket is not None:
            try:
                self.call("Browser.close")
            except Exception:
                pass
            socket.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        shutil.rmtree(self.profile, ignore_errors=True)
