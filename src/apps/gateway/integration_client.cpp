// Non-blocking HTTP POSTs on libcurl's multi-socket interface (see integration_client.hpp).
//
// libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when it next needs to
// run (CURLMOPT_TIMERFUNCTION); we map both onto the Reactor and hand readiness and timeouts
// back with curl_multi_socket_action(). Finished transfers are collected with
// curl_multi_info_read() after each of those calls, never inside a libcurl callback.
#include "apps/gateway/integration_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace hibiki::apps::gateway {
namespace {

using Clock = std::chrono::steady_clock;

// Finished easy handles kept for the next calls: reusing one skips its allocation and setup.
// Connections live in the multi handle's cache, not in these, so the pool can stay small.
// Enough idle handles for every call a busy loop has in flight (64 connections per host, calls
// waiting behind them): a handle made and destroyed per call costs more than it holds.
constexpr std::size_t kHandlePoolSize = 256;
// The connection cache holds this many hosts' worth of max_connections_per_host, so a few
// backends each keep their connections warm between bursts.
constexpr std::size_t kCachedHosts = 4;

// curl_global_init is not thread-safe and must run once per process before any other call;
// a function-local static gives both.
CURLcode global_init() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  return code;
}

std::atomic<std::uint64_t> clients_created{0};

std::uint32_t elapsed_ms(Clock::time_point since) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(ms, 0, std::numeric_limits<std::uint32_t>::max()));
}

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Header names are case-insensitive (RFC 9110 §5.1).
bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (ascii_lower(text[i]) != ascii_lower(prefix[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// One call in flight. Heap-allocated so the request body and error buffer libcurl points at
// never move.
struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string request_body;
  IntegrationResponse response;
  IntegrationClient::Done done;
  Clock::time_point started;
  std::uint32_t timeout_ms = 0;
  std::size_t max_response_bytes = 0;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {};

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() { curl_slist_free_all(headers); }
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  std::string& body = transfer.response.body;
  if (bytes > transfer.max_response_bytes - body.size()) {
    transfer.too_large = true;
    return 0;  // anything but `bytes` fails the transfer with CURLE_WRITE_ERROR
  }
  body.append(data, bytes);
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  const std::string_view line(data, bytes);
  auto& headers = transfer.response.headers;
  if (line.starts_with("HTTP/")) {
    headers.clear();  // a new status line: what came before belonged to a 1xx response
  } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return bytes;
}

}  // namespace

struct IntegrationClient::State {
  State(Reactor& r, const Limits& l);
  ~State();
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  Reactor& reactor;
  Limits limits;
  std::uint64_t curl_timer_id = 0;
  std::uint64_t deferred_timer_id = 0;
  CURLM* multi = nullptr;
  std::string init_error;  // set when libcurl could not be set up: every call fails with it
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers;
  std::vector<CURL*> idle_handles;
  std::unordered_set<int> watched;  // sockets libcurl asked us to watch
  std::vector<std::pair<Done, IntegrationResponse>> deferred;
  // Cleared by the destructor; a completion loop holds a copy to notice that a `done` callback
  // destroyed the client, and stops touching it.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* user, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* user);

  void post(const std::string& url, std::string&& body, std::vector<std::string>&& headers,
            std::uint32_t timeout_ms, Done&& done);
  bool configure(Transfer& transfer, const std::string& url, std::vector<std::string>& headers);
  void drive(curl_socket_t fd, int events);
  void finish_completed();
  std::string describe_failure(const Transfer& transfer, CURLcode result) const;
  void fail_later(Done&& done, std::string error, Clock::time_point started);
  void run_deferred();
  CURL* take_handle();
  void return_handle(CURL* easy);
};

IntegrationClient::State::State(Reactor& r, const Limits& l) : reactor(r), limits(l) {
  const std::uint64_t n = clients_created.fetch_add(1);
  curl_timer_id = kTimerIdBase + 2 * n;
  deferred_timer_id = curl_timer_id + 1;
  if (global_init() != CURLE_OK) {
    init_error = "cannot initialise libcurl";
    return;
  }
  multi = curl_multi_init();
  if (multi == nullptr) {
    init_error = "cannot create a libcurl multi handle";
    return;
  }
  const auto per_host =
      static_cast<long>(std::max<std::size_t>(limits.max_connections_per_host, 1));
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &State::on_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &State::on_timer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, per_host * static_cast<long>(kCachedHosts));
}

IntegrationClient::State::~State() {
  *alive = false;
  // Transfers first (each one still attached to the multi handle), then the multi handle,
  // which closes the cached connections.
  for (auto& [easy, transfer] : transfers) {
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
  }
  transfers.clear();
  for (CURL* easy : idle_handles)
    curl_easy_cleanup(easy);
  curl_multi_cleanup(multi);
  // libcurl reports closed sockets through on_socket, but whatever it may have left watched
  // must not call into freed memory.
  for (const int fd : watched)
    reactor.unwatch(fd);
  reactor.cancel_timer(curl_timer_id);
  reactor.cancel_timer(deferred_timer_id);
}

int IntegrationClient::State::on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
  auto& self = *static_cast<State*>(user);
  if (what == CURL_POLL_REMOVE) {
    self.watched.erase(fd);
    self.reactor.unwatch(fd);
    return 0;
  }
  std::uint32_t interest = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) interest |= 1;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) interest |= 2;
  self.watched.insert(fd);
  self.reactor.watch(fd, interest, [&self, fd](std::uint32_t ready) {
    int events = 0;
    if ((ready & 1) != 0) events |= CURL_CSELECT_IN;
    if ((ready & 2) != 0) events |= CURL_CSELECT_OUT;
    if ((ready & 4) != 0) events |= CURL_CSELECT_ERR;
    self.drive(fd, events);
  });
  return 0;
}

int IntegrationClient::State::on_timer(CURLM*, long timeout_ms, void* user) {
  auto& self = *static_cast<State*>(user);
  if (timeout_ms < 0) {
    self.reactor.cancel_timer(self.curl_timer_id);
    return 0;
  }
  // A 0 ms timeout arrives from inside curl_multi_add_handle(); the Reactor runs it at the end
  // of the loop turn, so libcurl is never re-entered from its own callback.
  const auto delay = static_cast<std::uint32_t>(
      std::min<long>(timeout_ms, std::numeric_limits<std::uint32_t>::max()));
  self.reactor.set_timer(self.curl_timer_id, delay,
                         [&self] { self.drive(CURL_SOCKET_TIMEOUT, 0); });
  return 0;
}

void IntegrationClient::State::drive(curl_socket_t fd, int events) {
  int running = 0;
  curl_multi_socket_action(multi, fd, events, &running);
  finish_completed();
}

void IntegrationClient::State::post(const std::string& url, std::string&& body,
                                    std::vector<std::string>&& headers, std::uint32_t timeout_ms,
                                    Done&& done) {
  const Clock::time_point started = Clock::now();
  if (!init_error.empty()) return fail_later(std::move(done), init_error, started);
  if (transfers.size() >= limits.max_in_flight) {
    return fail_later(
        std::move(done),
        "too many integration calls in flight (limit " + std::to_string(limits.max_in_flight) + ")",
        started);
  }
  CURL* easy = take_handle();
  if (easy == nullptr) return fail_later(std::move(done), "cannot create a transfer", started);
  auto transfer = std::make_unique<Transfer>();
  transfer->easy = easy;
  transfer->request_body = std::move(body);
  transfer->started = started;
  transfer->timeout_ms = timeout_ms;
  transfer->max_response_bytes = limits.max_response_bytes;
  if (!configure(*transfer, url, headers)) {
    std::string error = "cannot set up the request: " + std::string(transfer->error);
    return_handle(easy);
    return fail_later(std::move(done), std::move(error), started);
  }
  transfer->done = std::move(done);
  if (const CURLMcode code = curl_multi_add_handle(multi, easy); code != CURLM_OK) {
    Done failed = std::move(transfer->done);
    return_handle(easy);
    return fail_later(std::move(failed), curl_multi_strerror(code), started);
  }
  transfers.emplace(easy, std::move(transfer));
}

bool IntegrationClient::State::configure(Transfer& transfer, const std::string& url,
                                         std::vector<std::string>& headers) {
  const bool has_content_type = std::any_of(headers.begin(), headers.end(), [](const auto& h) {
    return starts_with_ignoring_case(h, "content-type:");
  });
  if (!has_content_type) headers.emplace_back("Content-Type: application/json");
  // An empty Expect: removes libcurl's `Expect: 100-continue` for larger bodies, which would
  // cost a round trip (or a one-second wait with servers that ignore it).
  headers.emplace_back("Expect:");
  for (const std::string& header : headers) {
    curl_slist* appended = curl_slist_append(transfer.headers, header.c_str());
    if (appended == nullptr) {
      std::snprintf(transfer.error, sizeof transfer.error, "out of memory");
      return false;
    }
    transfer.headers = appended;
  }

  CURL* easy = transfer.easy;
  const auto body_size = static_cast<curl_off_t>(transfer.request_body.size());
  const auto max_bytes = static_cast<curl_off_t>(
      std::min<std::size_t>(transfer.max_response_bytes, std::numeric_limits<curl_off_t>::max()));
  // Each setopt can only fail for lack of memory or an unknown option; check them all at once.
  const CURLcode codes[] = {
      curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error),
      curl_easy_setopt(easy, CURLOPT_URL, url.c_str()),
      // No file://, dict://, … even if a route is misconfigured.
      curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"),
      curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)),
      curl_easy_setopt(easy, CURLOPT_POST, 1L),
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer.request_body.data()),
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, body_size),
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.headers),
      // Never signals (a resolver timeout would raise SIGALRM in a server that did not ask).
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L),
      // "" disables proxies, including http_proxy and friends from the environment.
      curl_easy_setopt(easy, CURLOPT_PROXY, ""),
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(transfer.timeout_ms)),
      // Fails at once when Content-Length announces too much; on_body catches the rest.
      curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, max_bytes),
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_body),
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer),
      curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &on_header),
      curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer),
  };
  for (const CURLcode code : codes) {
    if (code != CURLE_OK) {
      if (transfer.error[0] == '\0') {
        std::snprintf(transfer.error, sizeof transfer.error, "%s", curl_easy_strerror(code));
      }
      return false;
    }
  }
  return true;
}

void IntegrationClient::State::finish_completed() {
  // Drain the message queue before calling anyone: a `done` may post again or destroy us.
  std::vector<std::pair<CURL*, CURLcode>> completed;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
    if (message->msg == CURLMSG_DONE) {
      completed.emplace_back(message->easy_handle, message->data.result);
    }
  }
  const std::shared_ptr<bool> still_alive = alive;
  for (const auto& [easy, result] : completed) {
    const auto it = transfers.find(easy);
    if (it == transfers.end()) continue;
    const std::unique_ptr<Transfer> transfer = std::move(it->second);
    transfers.erase(it);
    curl_multi_remove_handle(multi, easy);
    IntegrationResponse response = std::move(transfer->response);
    if (result == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      response.http_status = static_cast<int>(status);
    } else {
      response.http_status = 0;
      response.body.clear();
      response.headers.clear();
      response.error = describe_failure(*transfer, result);
    }
    response.elapsed_ms = elapsed_ms(transfer->started);
    return_handle(easy);
    // Moved out first: the callback may destroy the client, and with it anything it owns.
    const Done done = std::move(transfer->done);
    if (done) done(response);
    if (!*still_alive) return;
  }
}

std::string IntegrationClient::State::describe_failure(const Transfer& transfer,
                                                       CURLcode result) const {
  const std::string detail =
      transfer.error[0] != '\0' ? std::string(transfer.error) : curl_easy_strerror(result);
  switch (result) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout after " + std::to_string(transfer.timeout_ms) + " ms";
    case CURLE_COULDNT_CONNECT: {
      long os_error = 0;
      curl_easy_getinfo(transfer.easy, CURLINFO_OS_ERRNO, &os_error);
      if (os_error == ECONNREFUSED) return "connection refused";
      return "cannot connect: " + detail;
    }
    case CURLE_WRITE_ERROR:
      if (!transfer.too_large) return detail;
      [[fallthrough]];
    case CURLE_FILESIZE_EXCEEDED:
      return "response larger than " + std::to_string(transfer.max_response_bytes) + " bytes";
    case CURLE_GOT_NOTHING:
      return "connection closed without a response";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "cannot resolve host: " + detail;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return "bad integration URL: " + detail;
    default:
      return detail;
  }
}

void IntegrationClient::State::fail_later(Done&& done, std::string error,
                                          Clock::time_point started) {
  IntegrationResponse response;
  response.error = std::move(error);
  response.elapsed_ms = elapsed_ms(started);
  deferred.emplace_back(std::move(done), std::move(response));
  // One timer for all of them; setting it again only replaces it.
  reactor.set_timer(deferred_timer_id, 0, [this] { run_deferred(); });
}

void IntegrationClient::State::run_deferred() {
  std::vector<std::pair<Done, IntegrationResponse>> batch;
  batch.swap(deferred);
  const std::shared_ptr<bool> still_alive = alive;
  for (const auto& [done, response] : batch) {
    if (done) done(response);
    if (!*still_alive) return;
  }
}

CURL* IntegrationClient::State::take_handle() {
  if (idle_handles.empty()) return curl_easy_init();
  CURL* easy = idle_handles.back();
  idle_handles.pop_back();
  return easy;
}

void IntegrationClient::State::return_handle(CURL* easy) {
  if (idle_handles.size() < kHandlePoolSize) {
    // Forgets every option; the connection it used stays in the multi handle's cache.
    curl_easy_reset(easy);
    idle_handles.push_back(easy);
  } else {
    curl_easy_cleanup(easy);
  }
}

IntegrationClient::IntegrationClient(Reactor& reactor, Limits limits)
    : state_(std::make_unique<State>(reactor, limits)) {}

IntegrationClient::~IntegrationClient() = default;

void IntegrationClient::post(const std::string& url, std::string body,
                             std::vector<std::string> headers, std::uint32_t timeout_ms,
                             Done done) {
  state_->post(url, std::move(body), std::move(headers), timeout_ms, std::move(done));
}

std::size_t IntegrationClient::in_flight() const {
  return state_->transfers.size();
}

}  // namespace hibiki::apps::gateway
