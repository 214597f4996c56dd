"""``lambda_executor``: invoke an AWS Lambda function asynchronously for each intent (boto3).

The function receives the JSON event ``{"id", "key", "name", "args", "kwargs"}`` and should
de-duplicate by ``id`` (Lambda may deliver an asynchronous event more than once).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from airlock._intent import Intent
from airlock.exceptions import DispatchError, UsageError
from airlock.executors._base import check_options
from airlock.integrations import _propagation
from airlock.integrations._extras import require
from airlock.integrations.executors._payload import check_json, json_body, payload
from airlock.typing import SupportsPrepare

__all__ = ["lambda_executor"]

OPTION = "function"


class _Lambda(SupportsPrepare):
    known_options = frozenset({OPTION})

    def __init__(
        self,
        function: str | None,
        functions: Mapping[str, str],
        client: Any,
        qualifier: str | None,
        client_kwargs: Mapping[str, Any],
    ) -> None:
        self.function = function
        self.functions = dict(functions)
        self.qualifier = qualifier
        self._client = client
        self._client_kwargs = dict(client_kwargs)

    @property
    def client(self) -> Any:
        """The boto3 Lambda client (created on first use unless one was given)."""
        if self._client is None:
            with require("lambda", __name__):
                import boto3

            self._client = boto3.client("lambda", **self._client_kwargs)
        return self._client

    def function_for(self, intent: Intent) -> str:
        """Option ``function``, else ``functions[intent.name]``, else the default ``function``."""
        name = intent.dispatch_options.get(OPTION) or self.functions.get(intent.name)
        name = name or self.function
        if not isinstance(name, str) or not name:
            known = ", ".join(sorted(self.functions)) or "none"
            raise UsageError(
                f"lambda_executor has no function for {intent}: pass "
                f"_dispatch_options={{'function': ...}}, map its name in functions= (mapped: "
                f"{known}), or give lambda_executor(function=...) as the default"
            )
        return name

    def prepare(self, intent: Intent) -> Intent:
        """At enqueue: the function must resolve, the arguments must be JSON-serializable, and
        the only dispatch option is ``function`` (any other: ``UnknownOptionError``)."""
        check_options(str(intent), "lambda_executor dispatch", intent.dispatch_options,
                      self.known_options)
        self.function_for(intent)
        check_json(intent, "the Lambda event")
        return intent

    def __call__(self, intent: Intent) -> Any:
        function = self.function_for(intent)
        request: dict[str, Any] = {
            "FunctionName": function,
            "InvocationType": "Event",
            "Payload": json_body(payload(intent)),
        }
        if self.qualifier is not None:
            request["Qualifier"] = self.qualifier
        trace: dict[str, str] = {}
        _propagation.inject(intent, trace)  # when tracing is instrumented
        if trace:  # the function reads it as context.client_context.custom
            custom = json.dumps({"custom": trace}).encode()
            request["ClientContext"] = base64.b64encode(custom).decode()
        response = self.client.invoke(**request)
        status = response.get("StatusCode")
        if status != 202:
            raise DispatchError(
                f"Lambda {function} did not accept {intent} for asynchronous invocation "
                f"(status {status!r}, expected 202)",
                [(intent, RuntimeError(f"status {status!r}"))],
            )
        return response

    def __repr__(self) -> str:
        return f"<lambda_executor default={self.function!r} functions={self.functions!r}>"


def lambda_executor(
    function: str | None = None,
    *,
    functions: Mapping[str, str] | None = None,
    client: Any = None,
    qualifier: str | None = None,
    **client_kwargs: Any,
) -> _Lambda:
    """Invoke a Lambda function with ``InvocationType="Event"`` (fire and forget) per intent.

    The function is the dispatch option ``function`` if given, else ``functions[intent.name]``,
    else ``function``; none of them is a ``UsageError`` at enqueue, as are arguments JSON
    cannot encode. ``client``: a boto3 Lambda client; otherwise one is made on first use with
    ``client_kwargs`` (``region_name=``, ``endpoint_url=``...). AWS errors propagate (wrap in
    ``with_retry`` for throttling); a status other than 202 raises ``DispatchError``.
    Needs boto3: ``pip install "django-airlock[lambda]"``.
    """
    if client is None:
        with require("lambda", __name__):
            import boto3  # noqa: F401
    return _Lambda(function, functions or {}, client, qualifier, client_kwargs)
