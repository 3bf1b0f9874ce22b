#include "control/watch.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <rte_ring.h>

#include "control/describe.h"

namespace linecap {

void watch_fanout::add(pipeline& p, const session_catalog& catalog, client_id client, const std::string& id)
{
    _watchers[client] = id;
    update(p, catalog);
}

std::string watch_fanout::add_live(pipeline& p, const session_catalog& catalog, std::shared_ptr<live_stream> stream,
                                   const std::string& id)
{
    drop_abandoned(p, catalog);
    const auto same = std::count_if(_live.begin(), _live.end(), [&](const live_watcher& w) { return w.id == id; });
    if (static_cast<size_t>(same) >= max_live_per_session)
        return fmt::format("{} live streams follow session {} already, the most per session: close one (or follow it "
                           "with linecapctl watch {})",
                           max_live_per_session, id, id);
    if (_live.size() >= max_live_streams)
        return fmt::format("{} live streams are open, the most linecap serves at once: close one, or try again later",
                           max_live_streams);
    _live.push_back({std::move(stream), id});
    update(p, catalog);
    return {};
}

void watch_fanout::drop_abandoned(pipeline& p, const session_catalog& catalog)
{
    // Abandoned, or held by nobody else (its HTTP handler never got to
    // stream it): either way, nobody takes its lines.
    const auto gone = [](const live_watcher& w) { return w.stream->abandoned() || w.stream.use_count() == 1; };
    if (std::erase_if(_live, gone) != 0)
        update(p, catalog);
}

bool watch_fanout::remove_client(pipeline& p, const session_catalog& catalog, client_id client)
{
    if (_watchers.erase(client) == 0)
        return false;
    update(p, catalog);
    return true;
}

void watch_fanout::end_session(pipeline& p, const session_catalog& catalog, control_server& server,
                               const std::string& id, const std::string& reason)
{
    bool watched = false;
    for (auto it = _watchers.begin(); it != _watchers.end();) {
        if (it->second == id) {
            server.queue(it->first, nlohmann::ordered_json{{"event", "end"}, {"id", id}, {"reason", reason}}.dump());
            server.close_after_reply(it->first);
            it = _watchers.erase(it);
            watched = true;
        } else {
            ++it;
        }
    }
    const std::string end = nlohmann::ordered_json{{"id", id}, {"reason", reason}}.dump();
    for (auto it = _live.begin(); it != _live.end();) {
        if (it->id == id) {
            it->stream->end(end);
            it = _live.erase(it);
            watched = true;
        } else {
            ++it;
        }
    }
    if (watched)
        update(p, catalog);
}

void watch_fanout::note(control_server& server, const std::string& id, const std::string& text)
{
    for (const auto& [client, watched] : _watchers)
        if (watched == id)
            server.queue(client, nlohmann::ordered_json{{"event", "note"}, {"id", id}, {"note", text}}.dump());
    for (const live_watcher& w : _live)
        if (w.id == id)
            w.stream->push_event("note", text);
}

void watch_fanout::update(pipeline& p, const session_catalog& catalog)
{
    session_mask mask = 0;
    const auto watch = [&](const std::string& id) {
        if (const session_record* r = catalog.find(id); r != nullptr && r->slot >= 0)
            mask |= static_cast<session_mask>(1u << r->slot);
    };
    for (const auto& [client, id] : _watchers)
        watch(id);
    for (const live_watcher& w : _live)
        watch(w.id);
    for (writer* w : p.writers)
        w->watched.store(mask, std::memory_order_relaxed);
}

void watch_fanout::pump(pipeline& p, const session_catalog& catalog, control_server& server)
{
    drop_abandoned(p, catalog);
    for (writer* w : p.writers) {
        void* samples[64];
        const unsigned n = rte_ring_sc_dequeue_burst(w->watch_samples, samples, 64, nullptr);
        for (unsigned i = 0; i < n; i++) {
            const auto* sample = static_cast<const watch_sample*>(samples[i]);
            const auto follows = [&](const std::string& id) {
                const session_record* r = catalog.find(id);
                return r != nullptr && r->slot >= 0 && (sample->sessions & (1u << r->slot)) != 0;
            };
            std::string line;   // described once, for the first client that wants it
            const auto line_of = [&]() -> const std::string& {
                if (line.empty())
                    line = describe_packet(sample->ts_ns, sample->data, sample->caplen, sample->wire_len,
                                           sample->raw_ip);
                return line;
            };
            for (const auto& [client, id] : _watchers)
                if (follows(id))
                    server.queue_droppable(client, nlohmann::ordered_json{{"id", id}, {"packet", line_of()}}.dump());
            for (const live_watcher& live : _live)
                if (follows(live.id))
                    live.stream->push_line(line_of());
            rte_ring_sp_enqueue(w->watch_free, samples[i]);
        }
    }
}

} // namespace linecap
