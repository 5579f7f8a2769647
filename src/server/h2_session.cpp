// libnghttp2 server session behind H2Session: callbacks collect requests and pass tunnel DATA
// on; data providers read response bodies and tunnels.
#include "server/h2_session.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace hibiki::server {

namespace {

std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

nghttp2_nv header(std::string_view name, std::string_view value) {
  // nghttp2 copies name and value when the response is submitted (no NO_COPY flags).
  return {const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
          const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
          name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

// The C callbacks, with access to H2Session's streams.
struct H2Callbacks {
  static H2Session& self(void* user_data) { return *static_cast<H2Session*>(user_data); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    self(user_data).streams_.try_emplace(frame->hd.stream_id);
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                       std::uint8_t, void* user_data) {
    H2Session& s = self(user_data);
    H2Session::Stream* stream = s.find(frame->hd.stream_id);
    if (stream == nullptr || frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers are ignored
    H2Request& request = stream->request;
    request.header_bytes += name_length + value_length;
    if (request.header_bytes > s.limits_.max_header_bytes ||
        request.headers.size() >= s.limits_.max_headers) {
      request.head_too_large = true;  // answered 431 once the headers end
      return 0;
    }
    const std::string_view n = text(name, name_length);
    const std::string_view v = text(value, value_length);
    if (n == ":method") {
      request.method = v;
    } else if (n == ":scheme") {
      request.scheme = v;
    } else if (n == ":authority") {
      request.authority = v;
    } else if (n == ":path") {
      request.path = v;
    } else if (n == ":protocol") {
      request.protocol = v;
    } else {
      request.headers.emplace_back(n, v);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2Session& s = self(user_data);
    const bool ended = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    H2Session::Stream* stream = s.find(frame->hd.stream_id);
    if (stream == nullptr) return 0;
    if (ended) stream->peer_ended = true;
    if (!stream->dispatched) {
      // A request is whole at its END_STREAM; a CONNECT at the end of its headers.
      const bool connect = stream->request.method == "CONNECT";
      if (ended || (connect && frame->hd.type == NGHTTP2_HEADERS)) {
        stream->dispatched = true;
        stream->connect = connect;
        s.handler_.on_request(frame->hd.stream_id, stream->request);
        stream = s.find(frame->hd.stream_id);  // the handler may have reset it
        if (stream != nullptr && !stream->tunnel) stream->request = H2Request();
      }
    }
    if (ended && stream != nullptr && stream->tunnel) s.handler_.on_tunnel_end(frame->hd.stream_id);
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                           const std::uint8_t* data, std::size_t length, void* user_data) {
    H2Session& s = self(user_data);
    H2Session::Stream* stream = s.find(stream_id);
    if (stream == nullptr) return 0;
    // A WebSocket client may send frames before our 200 arrives (an answer the application
    // gives later): the handler keeps them, bounded, as over HTTP/1.1.
    if (stream->tunnel || (stream->connect && !stream->responded)) {
      // nghttp2 hands DATA out of the buffer given to mem_recv, which is ours and writable;
      // anything else (never seen) is copied first.
      const auto* begin = reinterpret_cast<const std::byte*>(data);
      if (begin >= s.input_.data() && begin + length <= s.input_.data() + s.input_.size()) {
        s.handler_.on_tunnel_data(stream_id, {s.input_.data() + (begin - s.input_.data()), length});
      } else {
        std::string copy(reinterpret_cast<const char*>(data), length);
        s.handler_.on_tunnel_data(stream_id,
                                  {reinterpret_cast<std::byte*>(copy.data()), copy.size()});
      }
      return 0;
    }
    if (stream->dispatched) return 0;  // a CONNECT refused, or a request answered early
    H2Request& request = stream->request;
    if (request.body_too_large || request.body.size() + length > s.limits_.max_body_bytes) {
      request.body_too_large = true;
      request.body.clear();
      return 0;
    }
    request.body.append(reinterpret_cast<const char*>(data), length);
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                             void* user_data) {
    H2Session& s = self(user_data);
    if (s.find(stream_id) == nullptr) return 0;
    s.handler_.on_stream_close(stream_id, error_code);
    s.streams_.erase(stream_id);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buffer,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                           void* user_data) {
    H2Session& s = self(user_data);
    H2Session::Stream* stream = s.find(stream_id);
    if (stream == nullptr) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    if (stream->tunnel) {
      bool end = false;
      const std::size_t n =
          s.handler_.read_tunnel(stream_id, {reinterpret_cast<std::byte*>(buffer), length}, end);
      if (end) *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (n == 0 && !end) return NGHTTP2_ERR_DEFERRED;  // resume() wakes it
      return static_cast<ssize_t>(n);
    }
    const std::size_t n = std::min(length, stream->out.size() - stream->out_sent);
    std::memcpy(buffer, stream->out.data() + stream->out_sent, n);
    stream->out_sent += n;
    if (stream->out_sent == stream->out.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      stream->out = std::string();
      stream->out_sent = 0;
    }
    return static_cast<ssize_t>(n);
  }
};

H2Session::H2Session(Handler& handler, const H2Limits& limits)
    : handler_(handler), limits_(limits) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, H2Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, H2Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, H2Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, H2Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, H2Callbacks::on_stream_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Closed streams are kept only for priority bookkeeping, which nothing here uses.
  nghttp2_option_set_no_closed_streams(option, 1);
  nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  const std::array<nghttp2_settings_entry, 3> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_streams},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(std::min<std::size_t>(limits_.max_header_bytes, UINT32_MAX))},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
}

H2Session::~H2Session() {
  nghttp2_session_del(session_);
}

H2Session::Stream* H2Session::find(std::int32_t stream) {
  const auto found = streams_.find(stream);
  return found == streams_.end() ? nullptr : &found->second;
}

bool H2Session::receive(std::span<std::byte> bytes) {
  input_ = bytes;
  const ssize_t rc = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  input_ = {};
  if (rc >= 0) return true;
  // Most errors already queued the GOAWAY the RFC asks for; a bad preface did not.
  if (rc == NGHTTP2_ERR_BAD_CLIENT_MAGIC) went_away_ = true;
  nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
  return false;
}

bool H2Session::produce(SendQueue& out, std::size_t budget) {
  while (out.size() < budget) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return false;
    if (n == 0) break;
    out.push({reinterpret_cast<const std::byte*>(data), static_cast<std::size_t>(n)});
  }
  return true;
}

bool H2Session::wants_write() const {
  return nghttp2_session_want_write(session_) != 0;
}

bool H2Session::alive() const {
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

void H2Session::respond(std::int32_t stream_id, int status, const H2Headers& headers,
                        std::string body, bool head_only) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || stream->responded) return;
  stream->responded = true;
  const std::string status_text = std::to_string(status);
  const std::string length = std::to_string(body.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size() + 2);
  nva.push_back(header(":status", status_text));
  const bool bodiless = status == 204 || status == 304;
  if (!bodiless) nva.push_back(header("content-length", length));
  for (const auto& [name, value] : headers)
    nva.push_back(header(name, value));
  stream->tunnel = false;
  if (head_only || bodiless || body.empty()) {
    nghttp2_submit_response(session_, stream_id, nva.data(), nva.size(), nullptr);
    return;
  }
  stream->out = std::move(body);
  stream->out_sent = 0;
  nghttp2_data_provider provider{};
  provider.read_callback = H2Callbacks::read_body;
  nghttp2_submit_response(session_, stream_id, nva.data(), nva.size(), &provider);
}

void H2Session::open_tunnel(std::int32_t stream_id, const H2Headers& headers) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || stream->responded) return;
  stream->responded = true;
  stream->tunnel = true;
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size() + 1);
  nva.push_back(header(":status", "200"));
  for (const auto& [name, value] : headers)
    nva.push_back(header(name, value));
  nghttp2_data_provider provider{};
  provider.read_callback = H2Callbacks::read_body;
  nghttp2_submit_response(session_, stream_id, nva.data(), nva.size(), &provider);
}

void H2Session::resume(std::int32_t stream) {
  if (streams_.contains(stream)) nghttp2_session_resume_data(session_, stream);
}

void H2Session::end_tunnel(std::int32_t stream_id, std::string rest) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || !stream->tunnel) return;
  stream->tunnel = false;
  stream->out = std::move(rest);
  stream->out_sent = 0;
  nghttp2_session_resume_data(session_, stream_id);
}

void H2Session::reset(std::int32_t stream, std::uint32_t error_code) {
  if (streams_.contains(stream)) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code);
  }
}

void H2Session::go_away() {
  if (went_away_) return;
  went_away_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void H2Session::set_tag(std::int32_t stream_id, std::uint64_t tag) {
  if (Stream* stream = find(stream_id)) stream->tag = tag;
}

std::uint64_t H2Session::tag(std::int32_t stream_id) const {
  const auto found = streams_.find(stream_id);
  return found == streams_.end() ? 0 : found->second.tag;
}

bool H2Session::responded(std::int32_t stream_id) const {
  const auto found = streams_.find(stream_id);
  return found != streams_.end() && found->second.responded;
}

bool H2Session::peer_ended(std::int32_t stream_id) const {
  const auto found = streams_.find(stream_id);
  return found != streams_.end() && found->second.peer_ended;
}

bool H2Session::is_tunnel(std::int32_t stream_id) const {
  const auto found = streams_.find(stream_id);
  return found != streams_.end() && found->second.tunnel;
}

void H2Session::for_each_tag(const std::function<void(std::uint64_t)>& visit) const {
  for (const auto& [id, stream] : streams_) {
    if (stream.tag != 0) visit(stream.tag);
  }
}

}  // namespace hibiki::server
