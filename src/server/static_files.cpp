// Static file handlers: a directory on disk or assets compiled into the binary.
#include "hibiki/static_files.hpp"

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

namespace hibiki {
namespace {

constexpr std::uintmax_t kMaxStaticFileBytes = 16u << 20;

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

void not_found(HttpResponse& response) {
  response.status = 404;
  response.content_type = "text/plain; charset=utf-8";
  response.body = "Not Found\n";
}

// A request path is safe when it is absolute and no segment is "..", "." or empty-with-dots.
bool is_safe_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos) {
    return false;
  }
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment == ".." || segment == ".") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::string_view content_type_for(std::string_view path) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
  }};
  for (const auto& [extension, type] : kTypes) {
    if (ends_with(path, extension)) return type;
  }
  return "application/octet-stream";
}

HttpHandler serve_directory(std::string root) {
  std::error_code error;
  std::filesystem::path base = std::filesystem::weakly_canonical(root, error);
  return [base = std::move(base)](const HttpRequestView& request, HttpResponse& response) {
    std::string path(request.path());
    if (!is_safe_path(path)) return not_found(response);
    if (path.back() == '/') path += "index.html";
    std::error_code ec;
    const std::filesystem::path file =
        std::filesystem::weakly_canonical(base / std::filesystem::path(path).relative_path(), ec);
    // Symlinks may still point outside the root: compare the resolved prefix.
    const auto [root_end, unused] =
        std::mismatch(base.begin(), base.end(), file.begin(), file.end());
    if (ec || root_end != base.end() || !std::filesystem::is_regular_file(file, ec)) {
      return not_found(response);
    }
    if (std::filesystem::file_size(file, ec) > kMaxStaticFileBytes) {
      response.status = 413;
      response.body = "Payload Too Large\n";
      return;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) return not_found(response);
    response.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    response.content_type = std::string(content_type_for(file.string()));
    response.headers.emplace_back("Cache-Control", "no-cache");
  };
}

HttpHandler serve_assets(std::span<const StaticAsset> assets) {
  return [assets](const HttpRequestView& request, HttpResponse& response) {
    std::string_view path = request.path();
    if (path == "/") path = "/index.html";
    for (const StaticAsset& asset : assets) {
      if (asset.path == path) {
        response.content_type = std::string(content_type_for(path));
        response.body = std::string(asset.body);
        response.headers.emplace_back("Cache-Control", "no-cache");
        return;
      }
    }
    not_found(response);
  };
}

}  // namespace hibiki
