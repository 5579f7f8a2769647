// Topics for publish/subscribe: each topic keeps a compact vector of subscriber slots, and each
// connection keeps its topics, so unsubscribing everything on close is O(topics).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hibiki::server {

struct Connection;

struct Topic {
  std::string name;
  std::vector<std::uint32_t> subscribers;  // connection slots
};

class TopicRegistry {
 public:
  // Told when a topic gets its first subscriber here (true) and loses its last (false).
  using ActivityHook = std::function<void(std::string_view topic, bool has_subscribers)>;
  void set_activity_hook(ActivityHook hook) { on_activity_ = std::move(hook); }

  bool subscribe(Connection& connection, std::string_view name);
  bool unsubscribe(Connection& connection, std::string_view name);
  void unsubscribe_all(Connection& connection);
  // nullptr when nobody ever subscribed (or everybody left).
  [[nodiscard]] const Topic* find(std::string_view name) const;

 private:
  void remove_subscriber(Topic& topic, std::uint32_t slot);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<Topic>, Hash, std::equal_to<>> topics_;
  ActivityHook on_activity_;
};

}  // namespace hibiki::server
