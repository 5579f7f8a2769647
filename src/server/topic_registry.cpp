// Topic membership bookkeeping.
#include "server/topic_registry.hpp"

#include <algorithm>

#include "server/connection.hpp"

namespace hibiki::server {

bool TopicRegistry::subscribe(Connection& connection, std::string_view name) {
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    auto topic = std::make_unique<Topic>();
    topic->name = std::string(name);
    it = topics_.emplace(topic->name, std::move(topic)).first;
    if (on_activity_) on_activity_(it->first, true);
  }
  Topic* topic = it->second.get();
  if (std::find(connection.topics.begin(), connection.topics.end(), topic) !=
      connection.topics.end()) {
    return false;
  }
  connection.topics.push_back(topic);
  topic->subscribers.push_back(connection.slot);
  return true;
}

bool TopicRegistry::unsubscribe(Connection& connection, std::string_view name) {
  auto it = topics_.find(name);
  if (it == topics_.end()) return false;
  Topic* topic = it->second.get();
  auto mine = std::find(connection.topics.begin(), connection.topics.end(), topic);
  if (mine == connection.topics.end()) return false;
  connection.topics.erase(mine);
  remove_subscriber(*topic, connection.slot);
  return true;
}

void TopicRegistry::unsubscribe_all(Connection& connection) {
  for (Topic* topic : connection.topics)
    remove_subscriber(*topic, connection.slot);
  connection.topics.clear();
}

const Topic* TopicRegistry::find(std::string_view name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second.get();
}

void TopicRegistry::remove_subscriber(Topic& topic, std::uint32_t slot) {
  auto& subscribers = topic.subscribers;
  auto it = std::find(subscribers.begin(), subscribers.end(), slot);
  if (it != subscribers.end()) {
    *it = subscribers.back();
    subscribers.pop_back();
  }
  if (subscribers.empty()) {
    if (on_activity_) on_activity_(topic.name, false);
    // Erase by iterator: erasing by `topic.name` would read the key while destroying it.
    topics_.erase(topics_.find(topic.name));
  }
}

}  // namespace hibiki::server
