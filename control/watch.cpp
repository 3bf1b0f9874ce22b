#include "control/watch.h"

#include <nlohmann/json.hpp>
#include <rte_ring.h>

#include "control/describe.h"

namespace linecap {

void watch_fanout::add(pipeline& p, const session_catalog& catalog, client_id client, const std::string& id)
{
    _watchers[client] = id;
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
    if (watched)
        update(p, catalog);
}

void watch_fanout::note(control_server& server, const std::string& id, const std::string& text)
{
    for (const auto& [client, watched] : _watchers)
        if (watched == id)
            server.queue(client, nlohmann::ordered_json{{"event", "note"}, {"id", id}, {"note", text}}.dump());
}

void watch_fanout::update(pipeline& p, const session_catalog& catalog)
{
    session_mask mask = 0;
    for (const auto& [client, id] : _watchers)
        if (const session_record* r = catalog.find(id); r != nullptr && r->slot >= 0)
            mask |= static_cast<session_mask>(1u << r->slot);
    for (writer* w : p.writers)
        w->watched.store(mask, std::memory_order_relaxed);
}

void watch_fanout::pump(pipeline& p, const session_catalog& catalog, control_server& server)
{
    for (writer* w : p.writers) {
        void* samples[64];
        const unsigned n = rte_ring_sc_dequeue_burst(w->watch_samples, samples, 64, nullptr);
        for (unsigned i = 0; i < n; i++) {
            const auto* sample = static_cast<const watch_sample*>(samples[i]);
            std::string line;
            for (const auto& [client, id] : _watchers) {
                const session_record* r = catalog.find(id);
                if (r == nullptr || r->slot < 0 || !(sample->sessions & (1u << r->slot)))
                    continue;
                if (line.empty())
                    line = describe_packet(sample->ts_ns, sample->data, sample->caplen, sample->wire_len,
                                           sample->raw_ip);
                server.queue_droppable(client, nlohmann::ordered_json{{"id", id}, {"packet", line}}.dump());
            }
            rte_ring_sp_enqueue(w->watch_free, samples[i]);
        }
    }
}

} // namespace linecap
