<?php
// The talk's serverless chat as a Bref-style Lambda handler. The gateway (API Gateway on AWS,
// `hibiki gateway` here) POSTs every WebSocket event to it; it keeps the connection ids in SQLite
// (DynamoDB in the talk) and talks to clients through the gateway's @connections API.
//
// Environment: MANAGEMENT_ENDPOINT (default http://127.0.0.1:8081/dev), the management API with
// its stage; CHAT_DB (default data/connections.sqlite3 next to this file), the SQLite file.

declare(strict_types=1);

namespace HibikiExample\PhpChat;

use PDO;

const DEFAULT_MANAGEMENT_ENDPOINT = 'http://127.0.0.1:8081/dev';
const SEND_TIMEOUT_MS = 5000;
const JSON_FLAGS = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE;

function database(): PDO
{
    // One connection per process, as a warm Lambda would keep its DynamoDB client.
    static $pdo = null;
    if ($pdo !== null) {
        return $pdo;
    }
    $path = getenv('CHAT_DB') ?: __DIR__ . '/data/connections.sqlite3';
    $directory = dirname($path);
    if (!is_dir($directory) && !mkdir($directory, 0775, true) && !is_dir($directory)) {
        throw new \RuntimeException("cannot create $directory");
    }
    $pdo = new PDO('sqlite:' . $path, null, null, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    // WAL: several `php -S` workers can read while one writes.
    $pdo->exec('PRAGMA journal_mode = WAL');
    $pdo->exec('PRAGMA busy_timeout = 2000');
    $pdo->exec('CREATE TABLE IF NOT EXISTS connections (
        connection_id TEXT PRIMARY KEY,
        connected_at  INTEGER NOT NULL
    )');
    return $pdo;
}

/** @return string[] */
function connectionIds(PDO $db): array
{
    return array_map('strval', $db->query('SELECT connection_id FROM connections')->fetchAll(PDO::FETCH_COLUMN));
}

function forget(PDO $db, string $connectionId): void
{
    $db->prepare('DELETE FROM connections WHERE connection_id = ?')->execute([$connectionId]);
}

/**
 * POSTs $data to every connection through @connections, all requests in parallel, and returns
 * the ids the gateway no longer knows (410 Gone).
 *
 * @param string[] $connectionIds
 * @return string[]
 */
function postToConnections(array $connectionIds, string $data): array
{
    $endpoint = rtrim(getenv('MANAGEMENT_ENDPOINT') ?: DEFAULT_MANAGEMENT_ENDPOINT, '/');
    $multi = curl_multi_init();
    $handles = [];
    foreach ($connectionIds as $id) {
        // Ids may hold '/', '+' and '=' (AWS ids are base64): they go into the path encoded.
        $handle = curl_init($endpoint . '/@connections/' . rawurlencode($id));
        curl_setopt_array($handle, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $data,
            CURLOPT_HTTPHEADER => ['Content-Type: application/json', 'Expect:'],
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT_MS => SEND_TIMEOUT_MS,
            CURLOPT_PROXY => '',
        ]);
        curl_multi_add_handle($multi, $handle);
        $handles[] = [$id, $handle];
    }
    // Transport errors of multi transfers are only reported here (curl_error() stays empty).
    $failures = [];
    do {
        $status = curl_multi_exec($multi, $running);
        while (($finished = curl_multi_info_read($multi)) !== false) {
            if ($finished['result'] !== CURLE_OK) {
                $failures[spl_object_id($finished['handle'])] = curl_strerror($finished['result']);
            }
        }
        if ($running > 0) {
            curl_multi_select($multi, 1.0);
        }
    } while ($running > 0 && $status === CURLM_OK);

    $gone = [];
    foreach ($handles as [$id, $handle]) {
        $code = curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        if ($code === 410) {
            $gone[] = $id;
        } elseif ($code < 200 || $code >= 300) {
            $why = $failures[spl_object_id($handle)] ?? "HTTP $code";
            error_log("@connections/$id: $why");
        }
        curl_multi_remove_handle($multi, $handle);
        curl_close($handle);
    }
    curl_multi_close($multi);
    return $gone;
}

/** Sends $message to the connections, forgetting the ones that are gone. */
function send(PDO $db, array $connectionIds, array $message): void
{
    foreach (postToConnections($connectionIds, json_encode($message, JSON_FLAGS)) as $gone) {
        forget($db, $gone);
    }
}

/** The client's {"action":"message","message":"..."} text, or null when it sent none. */
function messageText(array $event): ?string
{
    $body = (string) ($event['body'] ?? '');
    if ($event['isBase64Encoded'] ?? false) {
        $body = (string) base64_decode($body, true);
    }
    $text = json_decode($body, true)['message'] ?? null;
    return is_string($text) ? $text : null;
}

return function (array $event): array {
    $routeKey = (string) ($event['requestContext']['routeKey'] ?? '');
    $connectionId = (string) ($event['requestContext']['connectionId'] ?? '');
    if ($connectionId === '') {
        return ['statusCode' => 400, 'body' => 'requestContext.connectionId is missing'];
    }
    $db = database();
    switch ($routeKey) {
        case '$connect':
            $db->prepare('INSERT OR REPLACE INTO connections (connection_id, connected_at) VALUES (?, ?)')
                ->execute([$connectionId, time()]);
            break;
        case '$disconnect':
            forget($db, $connectionId);
            break;
        case 'message':
            $text = messageText($event);
            if ($text === null) {
                send($db, [$connectionId], ['type' => 'error', 'body' => 'message must be a string']);
                break;
            }
            // The talk's protocol: every client, the sender included, gets the same line.
            send($db, connectionIds($db), ['type' => 'message', 'body' => "Client $connectionId: $text"]);
            break;
        default:
            // $default: an action no route matches.
            send($db, [$connectionId], ['type' => 'error', 'body' => 'unknown action']);
    }
    return ['statusCode' => 200];
};
