from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

import airlock
from tests.executors.helpers import run_threads
from tests.services import require_module

require_module("boto3", "lambda")

import boto3  # noqa: E402
import botocore.config  # noqa: E402
import botocore.exceptions  # noqa: E402

from airlock.integrations.executors.aws_lambda import lambda_executor  # noqa: E402
from tests.executors.lambda_server import ACCESS_KEY, REGION, SECRET_KEY, LambdaService  # noqa: E402
from tests.executors.servers import serve  # noqa: E402
from tests.failures import raises_dispatch  # noqa: E402


def resize_image(image_id: int, *, width: int = 100) -> None:
    raise AssertionError("runs in Lambda, never here")


def send_receipt(order_id: int) -> None:
    raise AssertionError("runs in Lambda, never here")


@pytest.fixture
def service() -> Iterator[LambdaService]:
    svc = LambdaService({"thumbnails", "mailer", "fallback-fn"})
    with serve(svc) as (base, _):
        svc.base = base
        yield svc


def client_for(service: LambdaService, secret: str = SECRET_KEY) -> object:
    return boto3.client(
        "lambda",
        endpoint_url=service.base,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 0}),
    )


def test_invokes_asynchronously_with_a_signed_json_event(service: LambdaService) -> None:
    ex = lambda_executor(
        "fallback-fn", functions={"resize_image": "thumbnails"}, client=client_for(service)
    )
    with airlock.scope(executor=ex):
        sent = airlock.enqueue(resize_image, 42, width=640, _key="img-42")
    (inv,) = service.invocations
    assert (inv["function"], inv["type"]) == ("thumbnails", "Event")
    assert inv["event"] == {
        "id": sent.id,
        "key": "img-42",
        "name": "resize_image",
        "args": [42],
        "kwargs": {"width": 640},
    }


def test_function_option_wins_then_mapping_then_default(service: LambdaService) -> None:
    ex = lambda_executor(
        "fallback-fn",
        functions={"resize_image": "thumbnails"},
        client=client_for(service),
        qualifier="live",
    )
    with airlock.scope(executor=ex):
        airlock.enqueue(resize_image, 1, _dispatch_options={"function": "mailer"})
        airlock.enqueue(resize_image, 2)
        airlock.enqueue(send_receipt, 3)
    assert [(i["function"], i["event"]["args"]) for i in service.invocations] == [
        ("mailer", [1]),
        ("thumbnails", [2]),
        ("fallback-fn", [3]),
    ]
    assert {i["qualifier"] for i in service.invocations} == {"live"}


def test_a_bad_signature_is_refused_by_the_endpoint(service: LambdaService) -> None:
    ex = lambda_executor("mailer", client=client_for(service, secret="wrong"))
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidSignatureException"):
        ex(airlock.Intent(task=send_receipt, args=(1,)))
    assert service.invocations == []


def test_unknown_function_is_the_services_error(service: LambdaService) -> None:
    ex = lambda_executor("nope", client=client_for(service))
    with raises_dispatch(botocore.exceptions.ClientError, "Function not found: nope"):
        with airlock.scope(executor=ex):
            airlock.enqueue(send_receipt, 1)


def test_no_function_or_bad_arguments_fail_at_enqueue(service: LambdaService) -> None:
    ex = lambda_executor(functions={"resize_image": "thumbnails"}, client=client_for(service))
    with airlock.scope(executor=ex) as s:
        with pytest.raises(airlock.UsageError, match=r"no function for send_receipt\(1\)"):
            airlock.enqueue(send_receipt, 1)
        with pytest.raises(TypeError, match=r"argument 0 \(set"):
            airlock.enqueue(resize_image, {1, 2})
        assert s.intents == []
    assert service.invocations == []


def test_client_is_built_lazily_from_keyword_arguments(service: LambdaService) -> None:
    ex = lambda_executor(
        "mailer",
        endpoint_url=service.base,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    ex(airlock.Intent(task=send_receipt, args=(9,)))
    assert [i["event"]["args"] for i in service.invocations] == [[9]]


def test_eight_threads_invoke_concurrently(service: LambdaService) -> None:
    ex = lambda_executor("mailer", client=client_for(service))  # boto3 clients are thread-safe

    def produce(n: int) -> None:
        with airlock.scope(executor=ex):
            for k in range(3):
                airlock.enqueue(send_receipt, n * 10 + k)

    assert run_threads(8, produce) == []
    assert sorted(i["event"]["args"][0] for i in service.invocations) == sorted(
        n * 10 + k for n in range(8) for k in range(3)
    )


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # boto3 is installed here; hiding it from the import system is the only way to see this.
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ImportError, match=r'pip install "django-airlock\[lambda\]"'):
        lambda_executor("mailer")


def test_motos_lambda_service_accepts_the_event_as_sent() -> None:
    """moto's Lambda (docker-less mode) as a second, independent implementation of the API."""
    import io
    import json
    import urllib.request
    import zipfile

    require_module("moto", "dev")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        base = f"http://{host}:{port}"
        config = json.dumps({"lambda": {"use_docker": False}}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{base}/moto-api/config", data=config))
        kwargs = dict(
            endpoint_url=base,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        role = boto3.client("iam", **kwargs).create_role(
            RoleName="airlock-test", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("handler.py", "def handler(event, context):\n    return event\n")
        client = boto3.client("lambda", **kwargs)
        client.create_function(
            FunctionName="mailer",
            Runtime="python3.11",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
        )

        sent = airlock.Intent(task=send_receipt, args=(3,), key="r-3")
        response = lambda_executor("mailer", client=client)(sent)

        assert response["StatusCode"] == 202
        # Docker-less moto echoes the event it received.
        assert json.loads(response["Payload"].read()) == {
            "id": sent.id,
            "key": "r-3",
            "name": "send_receipt",
            "args": [3],
            "kwargs": {},
        }
    finally:
        server.stop()
