// Throwaway certificates for TLS tests: a temporary directory removed with the test, and
// self-signed certificates made in it with the openssl command.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace hibiki::testing {

class TempDir {
 public:
  TempDir() {
    namespace fs = std::filesystem;
    std::string pattern = (fs::temp_directory_path() / "hibiki-tls-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Certificate {
  std::string cert;
  std::string key;
};

// A self-signed P-256 certificate whose subject is CN=<name>, valid for a day.
inline Certificate make_certificate(const std::filesystem::path& dir, const std::string& name) {
  Certificate made{(dir / (name + "-cert.pem")).string(), (dir / (name + "-key.pem")).string()};
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 1 -nodes "
      "-subj /CN=" +
      name + " -keyout '" + made.key + "' -out '" + made.cert + "' >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("openssl req failed");
  return made;
}

}  // namespace hibiki::testing
