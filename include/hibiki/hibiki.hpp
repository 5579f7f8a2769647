// Everything a hibiki application needs.
#pragma once

#include "hibiki/http.hpp"
#include "hibiki/log.hpp"
#include "hibiki/options.hpp"
#include "hibiki/server.hpp"
#include "hibiki/stats.hpp"
#include "hibiki/websocket.hpp"
