<?php
// Front controller for PHP's built-in web server, in the place of Lambda and Bref: the gateway
// POSTs each event as Lambda-proxy JSON, the handler's array goes back as JSON.
//   php -S 127.0.0.1:8000 examples/php-chat/index.php

declare(strict_types=1);

header('Content-Type: application/json');
$event = $_SERVER['REQUEST_METHOD'] === 'POST' ? json_decode((string) file_get_contents('php://input'), true) : null;
if (!is_array($event)) {
    http_response_code(400);
    echo json_encode(['message' => 'POST a Lambda proxy event as JSON']);
    return;
}
$handler = require __DIR__ . '/handler.php';
echo json_encode($handler($event));
