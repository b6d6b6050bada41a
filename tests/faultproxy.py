"""A fault-injecting HTTP front for the moto server, for end-to-end tests of the console script.

It forwards every request to the moto server, except those a rule matches by service, region
and operation (read from the request's SigV4 credential scope and its Action / X-Amz-Target),
which get instead:
- `auth`: EC2's AuthFailure XML with HTTP 401, as an account's enabled region answers when its
  credentials are refused there;
- `text502`: a plain-text 502 from a proxy (botocore: ResponseParserError for XML services);
- `html502`: an HTML 502 page;
- `delay`: the real answer, `seconds` late (a slow endpoint).

Loopback only; its threads are daemons and every delay ends when the proxy is closed.
"""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
AUTH_FAILURE = (
    b"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>AuthFailure</Code>"
    b"<Message>AWS was not able to validate the provided access credentials</Message></Error>"
    b"</Errors><RequestID>00000000-fault-proxy</RequestID></Response>"
)
TEXT_502 = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"


@dataclass
class ProxyRule:
    """Matching requests (None = any) get `kind` instead of the upstream answer."""

    kind: str  # auth | text502 | html502 | delay
    service: str | None = None
    region: str | None = None
    operation: str | None = None
    seconds: float = 0.0
    hits: int = 0


class FaultProxy:
    """`with FaultProxy(upstream_url) as proxy:` then point AWS_ENDPOINT_URL at `proxy.url`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: list[ProxyRule] = []
        self.closed = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, kind: str, **match: Any) -> ProxyRule:
        """Add a rule; keyword arguments: service, region, operation, seconds."""
        rule = ProxyRule(kind, **match)
        with self._lock:
            self.rules.append(rule)
        return rule

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()

    def _match(self, service: str, region: str, operation: str) -> ProxyRule | None:
        with self._lock:
            for rule in self.rules:
                if (
                    rule.service in (None, service)
                    and rule.region in (None, region)
                    and rule.operation in (None, operation)
                ):
                    rule.hits += 1
                    return rule
        return None

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        scope = SCOPE_RE.search(h.headers.get("Authorization", ""))
        region, service = scope.groups() if scope else ("", "")
        target = h.headers.get("X-Amz-Target", "")
        operation = (
            target.rsplit(".", 1)[-1]
            if target
            else (parse_qs(body.decode("latin-1")).get("Action", [""])[0])
        )
        rule = self._match(service, region, operation)
        if rule is not None and rule.kind == "delay":
            if self.closed.wait(rule.seconds):
                return
            rule = None
        if rule is None:
            status, headers, payload = self._forward(h, body)
        elif rule.kind == "auth":
            status, headers, payload = 401, {"Content-Type": "text/xml"}, AUTH_FAILURE
        elif rule.kind == "text502":
            status, headers, payload = 502, {"Content-Type": "text/plain"}, TEXT_502
        else:
            status, headers, payload = 502, {"Content-Type": "text/html"}, HTML_502
        h.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            # Headers as signed (moto does not check signatures; it routes by the scope).
            headers = dict(h.headers.items())
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()
