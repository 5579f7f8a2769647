// Write queue of a connection.
#include "server/send_queue.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <memory>

#include "net/socket.hpp"

namespace hibiki::server {
namespace {

constexpr int kMaxIovecs = 64;
// Buffers that grew past these during a burst are given back once the queue is empty.
constexpr std::size_t kKeepOwnedCapacity = 16 * 1024;
constexpr std::size_t kKeepSegmentCapacity = 64;

// Copies up to kGatherBytes of the iovecs into one per-thread buffer and writes that; a larger
// batch goes out as it is. Small: copying costs about as much as the kernel's per-iovec work
// saves at a few KiB (a 16 KiB echo got slower with a 64 KiB bound).
constexpr std::size_t kGatherBytes = 8 * 1024;

long write_gathered(int fd, const iovec* iov, int count) {
  thread_local std::unique_ptr<std::byte[]> buffer;
  std::size_t total = 0;
  for (int i = 0; i < count; ++i)
    total += iov[i].iov_len;
  if (total > kGatherBytes) return net::writev_some(fd, iov, count);
  if (!buffer) buffer.reset(new std::byte[kGatherBytes]);
  std::byte* out = buffer.get();
  for (int i = 0; i < count; ++i) {
    std::memcpy(out, iov[i].iov_base, iov[i].iov_len);
    out += iov[i].iov_len;
  }
  const iovec one{buffer.get(), total};
  return net::writev_some(fd, &one, 1);
}

}  // namespace

SendQueue::~SendQueue() {
  // A send in flight points into this queue: its owner keeps it until the completion.
  assert(!sending_);
  reset();
}

void SendQueue::push(std::span<const std::byte> a, std::span<const std::byte> b) {
  const std::size_t size = a.size() + b.size();
  if (size == 0) return;
  reserve_owned(size);
  const std::size_t begin = owned_.size();
  owned_.append(reinterpret_cast<const char*>(a.data()), a.size());
  owned_.append(reinterpret_cast<const char*>(b.data()), b.size());
  // Consecutive small frames share one segment, hence one iovec.
  if (segments_.size() > head_ && segments_.back().frame == nullptr &&
      segments_.back().end == begin) {
    segments_.back().end += size;
  } else {
    segments_.push_back({nullptr, begin, begin + size});
  }
  bytes_ += size;
}

void SendQueue::push(SharedFrame* frame) {
  if (frame->size() == 0) return;
  frame->retain();
  segments_.push_back({frame, 0, frame->size()});
  bytes_ += frame->size();
}

int SendQueue::flush(int fd, net::TlsSession* tls) {
  while (bytes_ > 0) {
    std::array<iovec, kMaxIovecs> iov{};
    int count = 0;
    for (std::size_t i = head_; i < segments_.size() && count < kMaxIovecs; ++i) {
      const Segment& s = segments_[i];
      std::byte* base = s.frame ? s.frame->data() : reinterpret_cast<std::byte*>(owned_.data());
      iov[count].iov_base = base + s.begin;
      iov[count].iov_len = s.end - s.begin;
      ++count;
    }
    long written;
    if (tls == nullptr && count > 1) {
      // Many small frames (a burst of broadcasts) go out as one contiguous buffer: the kernel's
      // per-iovec cost on loopback outweighs copying a few KiB here.
      written = write_gathered(fd, iov.data(), count);
    } else {
      written =
          tls != nullptr ? tls->write(iov.data(), count) : net::writev_some(fd, iov.data(), count);
    }
    if (written < 0) return static_cast<int>(written);
    std::size_t offered = 0;
    for (int i = 0; i < count; ++i)
      offered += iov[i].iov_len;
    consume(static_cast<std::size_t>(written));
    // A short writev means the socket is full. TLS writes one record at a time, so only its
    // own -EAGAIN says so.
    if (tls == nullptr && static_cast<std::size_t>(written) < offered) return -EAGAIN;
  }
  return 0;
}

std::size_t SendQueue::take(std::span<std::byte> out) {
  std::size_t copied = 0;
  for (std::size_t i = head_; i < segments_.size() && copied < out.size(); ++i) {
    const Segment& s = segments_[i];
    const std::byte* base =
        s.frame ? s.frame->data() : reinterpret_cast<const std::byte*>(owned_.data());
    const std::size_t n = std::min<std::size_t>(s.end - s.begin, out.size() - copied);
    std::memcpy(out.data() + copied, base + s.begin, n);
    copied += n;
  }
  if (copied > 0) consume(copied);
  return copied;
}

void SendQueue::reserve_owned(std::size_t extra) {
  if (!sending_ || owned_.size() + extra <= owned_.capacity()) return;
  std::string grown;
  grown.reserve(std::max(owned_.capacity() * 2, owned_.size() + extra));
  grown.append(owned_);
  in_flight_->retired.push_back(std::move(owned_));
  owned_ = std::move(grown);
}

const msghdr* SendQueue::begin_send() {
  if (!in_flight_) in_flight_ = std::make_unique<InFlight>();
  // Short strings keep their bytes inside the object, which moves when retired: heap only.
  if (owned_.capacity() < 64) owned_.reserve(64);
  InFlight& batch = *in_flight_;
  std::size_t count = 0;
  for (std::size_t i = head_; i < segments_.size() && count < kMaxSendIovecs; ++i) {
    const Segment& s = segments_[i];
    std::byte* base = s.frame ? s.frame->data() : reinterpret_cast<std::byte*>(owned_.data());
    batch.iov[count++] = {base + s.begin, s.end - s.begin};
  }
  batch.message = {};
  batch.message.msg_iov = batch.iov.data();
  batch.message.msg_iovlen = count;
  sending_ = true;
  return &batch.message;
}

void SendQueue::finish_send(std::size_t written) {
  sending_ = false;
  in_flight_->retired.clear();
  if (written > 0) consume(written);
}

void SendQueue::consume(std::size_t written) {
  bytes_ -= written;
  while (written > 0) {
    Segment& s = segments_[head_];
    const std::size_t in_segment = s.end - s.begin;
    if (written < in_segment) {
      s.begin += written;
      break;
    }
    written -= in_segment;
    if (s.frame) s.frame->release();
    ++head_;
  }
  if (bytes_ == 0) {
    reset();
  } else {
    compact();
  }
}

void SendQueue::compact() {
  if (sending_) return;  // a send in flight points at these bytes
  // A slow reader never empties its queue: drop what was written so neither the segment
  // vector nor the owned buffer grows past the unsent bytes for long.
  if (head_ > 32 && head_ * 2 > segments_.size()) {
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  std::size_t dead = owned_.size();  // owned bytes before the first unsent owned segment
  for (std::size_t i = head_; i < segments_.size(); ++i) {
    if (segments_[i].frame == nullptr) {
      dead = segments_[i].begin;
      break;
    }
  }
  if (dead < kKeepOwnedCapacity || dead * 2 < owned_.size()) return;
  owned_.erase(0, dead);
  for (std::size_t i = head_; i < segments_.size(); ++i) {
    if (segments_[i].frame == nullptr) {
      segments_[i].begin -= dead;
      segments_[i].end -= dead;
    }
  }
}

void SendQueue::reset() {
  for (std::size_t i = head_; i < segments_.size(); ++i) {
    if (segments_[i].frame) segments_[i].frame->release();
  }
  segments_.clear();
  head_ = 0;
  bytes_ = 0;
  owned_.clear();
  if (owned_.capacity() > kKeepOwnedCapacity) std::string().swap(owned_);
  if (segments_.capacity() > kKeepSegmentCapacity) std::vector<Segment>().swap(segments_);
}

}  // namespace hibiki::server
