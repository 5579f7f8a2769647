// A main() for fuzz targets without libFuzzer: runs every file under the given directories (or
// the given files) through LLVMFuzzerTestOneInput once, so corpora and crashers replay as tests.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

// Regular files under `path`, sorted so a run is reproducible; dotfiles (.gitkeep) are skipped.
std::vector<fs::path> inputs_under(const fs::path& path) {
  std::vector<fs::path> files;
  if (!fs::is_directory(path)) {
    files.push_back(path);
    return files;
  }
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(path)) {
    if (entry.is_regular_file() && !entry.path().filename().string().starts_with(".")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Runs one input from an exact-size heap buffer, so an over-read is an ASan report.
bool replay(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  auto data = std::make_unique<std::uint8_t[]>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), data.get());
  // Printed first: if the input crashes, the last line names it.
  std::printf("%s\n", file.c_str());
  std::fflush(stdout);
  LLVMFuzzerTestOneInput(data.get(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path path(argv[i]);
    if (!fs::exists(path)) {
      std::fprintf(stderr, "%s: no such file or directory\n", argv[i]);
      return 1;
    }
    for (const fs::path& file : inputs_under(path)) {
      if (!replay(file)) {
        std::fprintf(stderr, "%s: cannot read\n", file.c_str());
        return 1;
      }
      ++count;
    }
  }
  std::printf("%zu inputs replayed without a finding\n", count);
  // No input at all means a wrong path, not a pass.
  return count == 0 ? 1 : 0;
}
