#pragma once
// Making a staged product durable before a rename publishes it. A product the
// state database calls done must survive a power cut: without an fsync, the
// rename can reach the disk before the data (ext4's delayed allocation), and
// the published path then holds empty or short files. Compiled as C++17 too
// (io/ms's casacore translation units use it): keep it free of C++20.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <thread>

namespace contimg::durable {

// fsync every file and directory under `root` (and `root`). Throws IoError
// naming the path that failed.
void sync_tree(const std::filesystem::path& root);

// fsync one directory (its entries: after a rename into it). Throws IoError.
void sync_directory(const std::filesystem::path& dir);

// Publishes `from` (a file or a directory tree) at `to` durably: `from`
// fsynced, renamed (an existing file at `to` is replaced; an existing
// directory must be removed by the caller first), then `to`'s directory
// fsynced. Every product's publishing rename goes through here. Throws
// IoError naming both paths.
void rename_into_place(const std::filesystem::path& from, const std::filesystem::path& to);

// Starts the kernel's writeback of the dirty pages of every regular file under
// `root` without waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE).
// Files that vanish meanwhile are skipped. Returns the files started.
std::size_t start_writeback(const std::filesystem::path& root) noexcept;

// Calls start_writeback(root) every `period` from its own thread until
// stopped, so that the disk writes a product while it is still being computed
// and the fsync before publishing finds most of it on disk already (the
// kernel would otherwise hold the pages for up to 30 s, dirty_expire). It
// only starts I/O the fsync would have done anyway.
class WritebackPacer {
 public:
  explicit WritebackPacer(std::filesystem::path root,
                          std::chrono::milliseconds period = std::chrono::milliseconds(250));
  ~WritebackPacer();
  WritebackPacer(const WritebackPacer&) = delete;
  WritebackPacer& operator=(const WritebackPacer&) = delete;

  void stop() noexcept;  // joins; idempotent
  std::uint64_t passes() const;

 private:
  void run();

  std::filesystem::path root_;
  std::chrono::milliseconds period_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t passes_ = 0;
  std::thread thread_;
};

}  // namespace contimg::durable
