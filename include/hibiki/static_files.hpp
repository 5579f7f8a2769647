// Ready-made HTTP handlers for static files: from a directory, or from assets in memory.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "hibiki/server.hpp"

namespace hibiki {

struct StaticAsset {
  std::string_view path;  // request path, e.g. "/app.js"
  std::string_view body;
};

// Serves files below `root`: "/" maps to index.html, paths with ".." segments or that resolve
// outside root get 404, files over 16 MiB get 413. Content-Type from the extension.
HttpHandler serve_directory(std::string root);

// Serves a fixed set of in-memory assets ("/" maps to "/index.html"); others get 404.
// The assets must outlive the server.
HttpHandler serve_assets(std::span<const StaticAsset> assets);

// "text/html; charset=utf-8" for ".html", and so on; application/octet-stream otherwise.
std::string_view content_type_for(std::string_view path);

}  // namespace hibiki
