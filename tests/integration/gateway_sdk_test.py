"""The gateway's management API driven by an AWS SDK (botocore, Debian's python3-botocore):
SigV4-signed PostToConnection, GetConnection and DeleteConnection work against a configured key,
a wrong secret or another region is refused with InvalidSignatureException, a closed connection
is GoneException, exactly as the SDK sees API Gateway; with a key pair configured, an unsigned
call from loopback is refused too. Over TLS (a throwaway certificate per port), the SDK calls
https:// and verifies the management port's certificate, clients connect over wss://, and plain
http:// to the TLS management port is refused without harming the gateway."""

import asyncio
import http.client
import json
import socket
import ssl
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import botocore.config
import botocore.exceptions
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


def management_client(port: int, secret: str, region: str = "us-east-1",
                      ca_file: str | None = None):
    """An SDK client for http://, or https:// verified against ca_file when given."""
    session = botocore.session.get_session()
    scheme = "https" if ca_file else "http"
    return session.create_client(
        "apigatewaymanagementapi",
        region_name=region,
        endpoint_url=f"{scheme}://{HOST}:{port}/dev",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        verify=ca_file if ca_file else None,
        config=botocore.config.Config(retries={"max_attempts": 0}, connect_timeout=TIMEOUT,
                                      read_timeout=TIMEOUT),
    )


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 and localhost: (cert, key)."""
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-days", "1", "-nodes", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:localhost,IP:{HOST}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=10)
    return cert, key


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


class GatewaySdkTlsTest(unittest.IsolatedAsyncioTestCase):
    """Both ports on TLS, each with its own certificate."""

    async def asyncSetUp(self) -> None:
        self.directory = tempfile.TemporaryDirectory()
        directory = Path(self.directory.name)
        self.ws_cert, ws_key = await asyncio.to_thread(make_certificate, directory, "ws")
        self.api_cert, api_key = await asyncio.to_thread(make_certificate, directory, "api")
        config = directory / "gateway.toml"
        config.write_text(
            '[gateway]\nstage = "dev"\n'
            f'[tls]\ncert = "{self.ws_cert}"\nkey = "{ws_key}"\n'
            f'[management]\nsigv4_access_key_id = "{ACCESS_KEY}"\n'
            f'sigv4_secret_access_key = "{SECRET}"\n'
            f'[management.tls]\ncert = "{self.api_cert}"\nkey = "{api_key}"\n')
        self.management_port = free_port()
        self.server = await start_server("gateway", extra_args=[
            "--config", str(config), "--registry", ":memory:",
            "--management-port", str(self.management_port)])

    async def asyncTearDown(self) -> None:
        self.assertEqual(await self.server.stop(), 0)
        self.directory.cleanup()

    async def connect(self):
        context = ssl.create_default_context(cafile=str(self.ws_cert))
        client = await websockets.connect(f"wss://{HOST}:{self.server.port}", ssl=context,
                                          open_timeout=TIMEOUT)
        await client.send(json.dumps({"action": "whoami"}))
        frame = json.loads(await asyncio.wait_for(client.recv(), TIMEOUT))
        self.assertEqual(frame["message"], "Forbidden")
        return client, frame["connectionId"]

    async def sdk_client(self, ca_file: str):
        """An https:// SDK client that trusts ca_file, closed with the test."""
        sdk = await asyncio.to_thread(management_client, self.management_port, SECRET,
                                      ca_file=ca_file)
        self.addCleanup(sdk.close)
        return sdk

    async def test_the_sdk_calls_over_https(self) -> None:
        client, connection_id = await self.connect()
        sdk = await self.sdk_client(str(self.api_cert))
        await asyncio.to_thread(sdk.post_to_connection, ConnectionId=connection_id,
                                Data=b"over https")
        self.assertEqual(await asyncio.wait_for(client.recv(), TIMEOUT), "over https")
        described = await asyncio.to_thread(sdk.get_connection, ConnectionId=connection_id)
        self.assertEqual(described["Identity"]["SourceIp"], "127.0.0.1")
        await client.close()

    async def test_the_sdk_refuses_a_certificate_it_does_not_trust(self) -> None:
        client, connection_id = await self.connect()
        # The WebSocket port's certificate does not vouch for the management port.
        sdk = await self.sdk_client(str(self.ws_cert))
        with self.assertRaises(botocore.exceptions.SSLError):
            await asyncio.to_thread(sdk.post_to_connection, ConnectionId=connection_id,
                                    Data=b"unverified")
        await client.close()

    async def test_plain_http_to_the_tls_management_port_fails_cleanly(self) -> None:
        def plain_get() -> str:
            try:
                with urllib.request.urlopen(
                        f"http://{HOST}:{self.management_port}/healthz", timeout=TIMEOUT) as got:
                    return f"HTTP {got.status}"
            except urllib.error.HTTPError as error:
                return f"HTTP {error.code}"
            except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as error:
                return f"failed: {error!r}"

        outcome = await asyncio.to_thread(plain_get)
        self.assertTrue(outcome.startswith("failed"), outcome)
        self.assertIsNone(self.server.process.returncode)
        # The gateway goes on serving both ports over TLS.
        client, connection_id = await self.connect()
        sdk = await self.sdk_client(str(self.api_cert))
        await asyncio.to_thread(sdk.post_to_connection, ConnectionId=connection_id,
                                Data=b"still serving")
        self.assertEqual(await asyncio.wait_for(client.recv(), TIMEOUT), "still serving")
        await client.close()


if __name__ == "__main__":
    unittest.main()


class GatewaySdkClusterTest(unittest.IsolatedAsyncioTestCase):
    """Two gateway nodes sharing a real redis-server: the SDK talks to one node's management
    port only and reaches a client connected to the other, with the same answers and errors."""

    async def asyncSetUp(self) -> None:
        self.directory = tempfile.TemporaryDirectory()
        redis_port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = Path(self.directory.name) / "gateway.toml"
        config.write_text(
            '[gateway]\nstage = "dev"\n'
            f'[management]\nsigv4_access_key_id = "{ACCESS_KEY}"\n'
            f'sigv4_secret_access_key = "{SECRET}"\n'
            f'[cluster]\nredis = "redis://{HOST}:{redis_port}"\n')
        self.nodes = []
        self.management_ports = []
        for name in ("sdk-a", "sdk-b"):
            port = free_port()
            self.management_ports.append(port)
            self.nodes.append(await start_server("gateway", extra_args=[
                "--config", str(config), "--registry", ":memory:", "--management-port", str(port),
                "--node-id", name]))
        for port in self.management_ports:
            await self.wait_ready(port)

    async def asyncTearDown(self) -> None:
        for node in self.nodes:
            await node.stop()
        self.redis.kill()
        self.redis.wait(timeout=TIMEOUT)
        self.directory.cleanup()

    async def wait_ready(self, port: int) -> None:
        def status() -> int:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=1) as answer:
                    return answer.status
            except (urllib.error.URLError, ConnectionError):
                return 0
        for _ in range(100):
            if await asyncio.to_thread(status) == 200:
                return
            await asyncio.sleep(0.1)
        self.fail(f"the node with management port {port} did not get ready")

    async def test_the_sdk_on_one_node_reaches_a_client_on_the_other(self) -> None:
        client = await websockets.connect(self.nodes[1].ws_url, open_timeout=TIMEOUT)
        await client.send(json.dumps({"action": "whoami"}))
        connection_id = json.loads(await asyncio.wait_for(client.recv(), TIMEOUT))["connectionId"]
        sdk = management_client(self.management_ports[0], SECRET)

        await asyncio.to_thread(sdk.post_to_connection, ConnectionId=connection_id,
                                Data=b"across nodes")
        self.assertEqual(await asyncio.wait_for(client.recv(), TIMEOUT), "across nodes")
        described = await asyncio.to_thread(sdk.get_connection, ConnectionId=connection_id)
        self.assertEqual(described["Identity"]["SourceIp"], "127.0.0.1")
        self.assertLessEqual(described["ConnectedAt"], described["LastActiveAt"])

        await asyncio.to_thread(sdk.delete_connection, ConnectionId=connection_id)
        with self.assertRaises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), TIMEOUT)
        self.assertEqual(closed.exception.rcvd.code, 1000)
        with self.assertRaises(ClientError) as gone:
            await asyncio.to_thread(sdk.post_to_connection, ConnectionId=connection_id,
                                    Data=b"late")
        self.assertEqual(gone.exception.response["Error"]["Code"], "GoneException")
        self.assertEqual(gone.exception.response["ResponseMetadata"]["HTTPStatusCode"], 410)
        sdk.close()
