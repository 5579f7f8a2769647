"""The gateway's management API driven by an AWS SDK (botocore, Debian's python3-botocore):
SigV4-signed PostToConnection, GetConnection and DeleteConnection work against a configured key,
a wrong secret or another region is refused with InvalidSignatureException, a closed connection
is GoneException, exactly as the SDK sees API Gateway; with a key pair configured, an unsigned
call from loopback is refused too."""

import asyncio
import json
import socket
import tempfile
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import botocore.config
import botocore.session
import websockets
from botocore.exceptions import ClientError

from hibiki_proc import HOST, start_server

TIMEOUT = 5.0
ACCESS_KEY = "AKIDLOCALGATEWAY"
SECRET = "local/secret+key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def management_client(port: int, secret: str, region: str = "us-east-1"):
    session = botocore.session.get_session()
    return session.create_client(
        "apigatewaymanagementapi",
        region_name=region,
        endpoint_url=f"http://{HOST}:{port}/dev",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 0}, connect_timeout=TIMEOUT,
                                      read_timeout=TIMEOUT),
    )


class GatewaySdkTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.directory = tempfile.TemporaryDirectory()
        config = Path(self.directory.name) / "gateway.toml"
        # No routes: $connect is accepted, every message gets the Forbidden frame (with the id).
        config.write_text(
            '[gateway]\nstage = "dev"\n'
            f'[management]\nsigv4_access_key_id = "{ACCESS_KEY}"\n'
            f'sigv4_secret_access_key = "{SECRET}"\n'
            'sigv4_region = "us-east-1"\nsigv4_service = "execute-api"\n')
        self.management_port = free_port()
        self.server = await start_server("gateway", extra_args=[
            "--config", str(config), "--registry", ":memory:",
            "--management-port", str(self.management_port)])

    async def asyncTearDown(self) -> None:
        await self.server.stop()
        self.directory.cleanup()

    async def connect(self):
        client = await websockets.connect(self.server.ws_url, open_timeout=TIMEOUT)
        await client.send(json.dumps({"action": "whoami"}))
        frame = json.loads(await asyncio.wait_for(client.recv(), TIMEOUT))
        self.assertEqual(frame["message"], "Forbidden")
        return client, frame["connectionId"]

    async def sdk(self, call, **arguments):
        # botocore blocks: keep the test's event loop (and its WebSocket client) running.
        return await asyncio.to_thread(call, **arguments)

    async def test_signed_calls_post_get_and_delete(self) -> None:
        client, connection_id = await self.connect()
        sdk = management_client(self.management_port, SECRET)
        await self.sdk(sdk.post_to_connection, ConnectionId=connection_id, Data=b"from the sdk")
        self.assertEqual(await asyncio.wait_for(client.recv(), TIMEOUT), "from the sdk")

        described = await self.sdk(sdk.get_connection, ConnectionId=connection_id)
        self.assertEqual(described["Identity"]["SourceIp"], "127.0.0.1")
        self.assertIn("websockets", described["Identity"]["UserAgent"])
        self.assertLessEqual(described["ConnectedAt"], described["LastActiveAt"])

        await self.sdk(sdk.delete_connection, ConnectionId=connection_id)
        with self.assertRaises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), TIMEOUT)
        self.assertEqual(closed.exception.rcvd.code, 1000)

        with self.assertRaises(ClientError) as gone:
            await self.sdk(sdk.post_to_connection, ConnectionId=connection_id, Data=b"late")
        self.assertEqual(gone.exception.response["Error"]["Code"], "GoneException")
        self.assertEqual(gone.exception.response["ResponseMetadata"]["HTTPStatusCode"], 410)

    async def test_a_wrong_secret_is_refused(self) -> None:
        client, connection_id = await self.connect()
        sdk = management_client(self.management_port, "not the secret")
        with self.assertRaises(ClientError) as refused:
            await self.sdk(sdk.post_to_connection, ConnectionId=connection_id, Data=b"forged")
        self.assertEqual(refused.exception.response["Error"]["Code"],
                         "InvalidSignatureException")
        self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        await client.close()

    async def test_another_region_is_refused_as_aws_does(self) -> None:
        client, connection_id = await self.connect()
        sdk = management_client(self.management_port, SECRET, region="eu-west-1")
        with self.assertRaises(ClientError) as refused:
            await self.sdk(sdk.post_to_connection, ConnectionId=connection_id, Data=b"elsewhere")
        error = refused.exception.response["Error"]
        self.assertEqual(error["Code"], "InvalidSignatureException")
        self.assertEqual(error["Message"], "Credential should be scoped to a valid region. ")
        self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        await client.close()

    async def test_with_a_key_pair_set_loopback_callers_must_sign_too(self) -> None:
        client, connection_id = await self.connect()
        url = (f"http://{HOST}:{self.management_port}/dev/@connections/"
               f"{urllib.parse.quote(connection_id, safe='')}")

        def unsigned_post() -> tuple[int, str]:
            request = urllib.request.Request(url, data=b"unsigned", method="POST")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    return response.status, ""
            except urllib.error.HTTPError as error:
                return error.code, error.headers.get("x-amzn-ErrorType", "")

        status, error_type = await asyncio.to_thread(unsigned_post)
        self.assertEqual((status, error_type), (403, "MissingAuthenticationTokenException"))
        await client.close()


if __name__ == "__main__":
    unittest.main()
