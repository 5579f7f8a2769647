// Immutable frame bytes shared by the send queues of one loop: a published message is framed
// once and every subscriber's queue holds a counted reference, never a copy. The count is not
// atomic: a frame never leaves the loop that made it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <utility>

namespace hibiki::server {

class SharedFrame {
 public:
  // One allocation holds the count, the size and the bytes.
  static SharedFrame* create(std::size_t size) {
    void* memory = ::operator new(sizeof(SharedFrame) + size);
    return new (memory) SharedFrame(size);
  }
  void retain() { ++references_; }
  void release() {
    if (--references_ == 0) {
      this->~SharedFrame();
      ::operator delete(this);
    }
  }
  [[nodiscard]] std::byte* data() { return reinterpret_cast<std::byte*>(this + 1); }
  [[nodiscard]] std::span<const std::byte> bytes() const {
    return {reinterpret_cast<const std::byte*>(this + 1), size_};
  }
  [[nodiscard]] std::size_t size() const { return size_; }

 private:
  explicit SharedFrame(std::size_t size) : size_(size) {}
  std::size_t size_;
  std::uint32_t references_ = 1;
};

// Owning reference: copying retains, destruction releases.
class FrameRef {
 public:
  FrameRef() = default;
  explicit FrameRef(SharedFrame* adopted) : frame_(adopted) {}
  FrameRef(const FrameRef& other) : frame_(other.frame_) {
    if (frame_) frame_->retain();
  }
  FrameRef(FrameRef&& other) noexcept : frame_(std::exchange(other.frame_, nullptr)) {}
  FrameRef& operator=(FrameRef other) noexcept {
    std::swap(frame_, other.frame_);
    return *this;
  }
  ~FrameRef() {
    if (frame_) frame_->release();
  }
  [[nodiscard]] SharedFrame* get() const { return frame_; }
  SharedFrame* operator->() const { return frame_; }
  // Hands the reference to a raw owner (a queue segment), which must release() it.
  SharedFrame* leak() { return std::exchange(frame_, nullptr); }

 private:
  SharedFrame* frame_ = nullptr;
};

}  // namespace hibiki::server
