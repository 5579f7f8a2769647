// The $connect authorizer wired to the gateway: identity sources, the REQUEST authorizer event
// POSTed to [authorizer].integration, and its answer deciding the upgrade (authorizer.hpp has
// the rules, lambda_event.hpp the event).
#include <utility>

#include "apps/gateway/authorizer.hpp"
#include "apps/gateway/gateway_app.hpp"
#include "apps/gateway/gateway_client.hpp"
#include "apps/gateway/gateway_ids.hpp"
#include "apps/gateway/lambda_event.hpp"
#include "apps/gateway/route_selection.hpp"
#include "hibiki/log.hpp"

namespace hibiki::apps::gateway {
namespace {

// The metric's four outcomes: an implicit deny counts as deny.
std::string_view metric_outcome(AuthorizerOutcome outcome) {
  switch (outcome) {
    case AuthorizerOutcome::allow:
      return "allow";
    case AuthorizerOutcome::deny:
    case AuthorizerOutcome::not_allowed:
      return "deny";
    case AuthorizerOutcome::unauthorized:
      return "unauthorized";
    case AuthorizerOutcome::error:
      break;
  }
  return "error";
}

}  // namespace

void Gateway::authorize(PendingUpgrade upgrade, Client& c, HeaderList headers, std::string query) {
  const AuthorizerConfig& authorizer = *config_.authorizer;
  const std::uint64_t socket_id = upgrade.id();
  Loop& loop = this_loop();
  if (auto missing = missing_identity_source(authorizer.identity_sources, headers, query)) {
    // API Gateway answers 401 without calling the authorizer.
    const AuthorizerRefusal refusal = authorizer_refusal(AuthorizerOutcome::unauthorized);
    log(LogLevel::warn,
        "gateway: authorizer connection " + c.connection_id +
            ": refused with 401, identity "
            "source " +
            *missing + " missing or empty (authorizer not called)",
        {{"connection_id", c.connection_id}, {"status", 401}, {"identity_source", *missing}});
    metrics_.authorizer_outcome("unauthorized");
    upgrade.reject(refusal.status, refusal.body);
    loop.clients.erase(socket_id);
    return;
  }
  std::string arn = method_arn(authorizer.region, authorizer.account_id, config_.api_id,
                               config_.stage, kConnectRoute);
  const std::string request_id = new_request_id();
  const AuthorizerEvent event{
      .connect = {.context =
                      event_context(c, kConnectRoute, c.connected_at_ms, request_id, request_id),
                  .headers = headers,
                  .query = query},
      .method_arn = arn};
  loop.integrations.post(
      authorizer.integration, authorizer_event_json(event), {}, authorizer.timeout_ms,
      [this, &loop, upgrade, socket_id, request_id, arn = std::move(arn),
       headers = std::move(headers),
       query = std::move(query)](const IntegrationResponse& response) {
        auto found = loop.clients.find(socket_id);
        if (found == loop.clients.end()) return;
        Client& client = *found->second;
        AuthorizerDecision decision;
        if (response.error.empty()) {
          decision = read_authorizer_answer(response.http_status, response.body, arn);
        } else {
          decision.outcome = AuthorizerOutcome::error;
          decision.reason = response.error;
        }
        with_registry([&](store::ConnectionRegistry& registry) {
          return registry.record_call({.request_id = request_id,
                                       .connection_id = client.connection_id,
                                       .route_key = "$connect authorizer",
                                       .status = response.http_status,
                                       .latency_ms = response.elapsed_ms,
                                       .at_ms = epoch_ms(),
                                       .error = response.error});
        });
        metrics_.authorizer_outcome(metric_outcome(decision.outcome));
        const bool allowed = decision.outcome == AuthorizerOutcome::allow;
        const AuthorizerRefusal refusal = authorizer_refusal(decision.outcome);
        log(allowed ? LogLevel::info : LogLevel::warn,
            "gateway: authorizer connection " + client.connection_id + " request " + request_id +
                ": " + to_string(decision.outcome) +
                (allowed ? " principalId " + decision.principal_id
                         : " (" + decision.reason + "), refused with " +
                               std::to_string(refusal.status)) +
                " in " + std::to_string(response.elapsed_ms) + " ms",
            {{"connection_id", client.connection_id},
             {"request_id", request_id},
             {"outcome", to_string(decision.outcome)},
             {"status", allowed ? 101 : refusal.status},
             {"elapsed_ms", response.elapsed_ms}});
        if (!upgrade.is_pending()) {  // the client went away while the authorizer decided
          loop.clients.erase(socket_id);
          return;
        }
        if (!allowed) {
          upgrade.reject(refusal.status, refusal.body);
          loop.clients.erase(socket_id);
          return;
        }
        client.authorizer = AuthorizerContext{.principal_id = std::move(decision.principal_id),
                                              .integration_latency_ms = response.elapsed_ms,
                                              .context = std::move(decision.context)};
        connect_route(upgrade, client, headers, query);
      });
}

}  // namespace hibiki::apps::gateway
