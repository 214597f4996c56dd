"""A small server speaking the Lambda Invoke API on loopback, checking SigV4 like AWS does.

It recomputes the request signature with the shared test credentials (botocore's SigV4
algorithm over exactly the headers the client listed as signed, and the received body) and
answers 403 ``InvalidSignatureException`` on a mismatch, 404 for an unknown function, 202 for
an accepted ``Event`` invocation, the way the real service does.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY, SECRET_KEY, REGION = "AKIDAIRLOCKTEST", "airlock-test-secret", "eu-west-1"
_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations(?:\?(?P<query>.*))?$")
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/lambda/"
    r"aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)


class LambdaService:
    def __init__(self, functions: set[str]) -> None:
        self.functions = functions
        self.invocations: list[dict[str, Any]] = []
        self.base = ""

    @staticmethod
    def _error(status: int, kind: str, message: str) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"Type": "User", "message": message}).encode()
        return status, {"x-amzn-ErrorType": kind, "Content-Type": "application/json"}, body

    def _signature_ok(self, path: str, body: bytes, headers: Any) -> bool:
        match = _AUTH.fullmatch(headers.get("Authorization", ""))
        if not match or match["key"] != ACCESS_KEY or match["region"] != REGION:
            return False
        signed = match["signed"].split(";")
        request = AWSRequest(
            method="POST",
            url=self.base + path,
            data=body,
            headers={name: headers[name] for name in signed},
        )
        request.context["timestamp"] = headers["X-Amz-Date"]
        signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        return bool(expected == match["signature"])

    def __call__(self, path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        match = _PATH.match(path)
        if not match:
            return self._error(404, "UnknownOperationException", f"no route {path}")
        if not self._signature_ok(path, body, headers):
            return self._error(403, "InvalidSignatureException", "signature does not match")
        name = urllib.parse.unquote(match["name"])
        if name not in self.functions:
            return self._error(404, "ResourceNotFoundException", f"Function not found: {name}")
        query = urllib.parse.parse_qs(match["query"] or "")
        self.invocations.append(
            {
                "function": name,
                "type": headers.get("X-Amz-Invocation-Type"),
                "qualifier": query.get("Qualifier", [None])[0],
                "event": json.loads(body),
            }
        )
        return 202, {"Content-Type": "application/json"}, b""
