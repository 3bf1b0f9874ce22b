#include "control/fleet_merge.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <memory>
#include <set>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/error_text.h"
#include "core/human_units.h"
#include "core/sigpipe.h"
#include "core/utc_time.h"
#include "core/write_all.h"
#include "fleet/fleet_session.h"
#include "fleet/names.h"

namespace linecap {

using json = nlohmann::json;

namespace {

std::string text_of(const json& j, const char* field)
{
    return j.is_object() && j.contains(field) && j[field].is_string() ? j[field].get<std::string>() : std::string();
}

// etcd's keys under `prefix`, by their last part, as JSON objects (others left out).
std::string read_objects(etcd_client& etcd, const std::string& prefix, std::map<std::string, json>& out)
{
    std::vector<etcd_kv> kvs;
    int64_t revision = 0;
    if (std::string e = etcd.list(prefix, kvs, revision); !e.empty())
        return e;
    for (const etcd_kv& kv : kvs)
        if (json j = parse_stored_json(kv.value); j.is_object())
            out[kv.key.substr(prefix.size())] = std::move(j);
    return {};
}

// The spool's filesystem keeps this share of its size free, checked every
// spool_check_bytes written: a daemon spools into its --out-root, where its
// captures write, and a merge of long parts must not take their room.
constexpr uint64_t spool_reserve_percent = 5;
constexpr uint64_t spool_check_bytes = 1 << 20;

// Why the spool (the file `fd`, in `dir`) must take no more, or empty.
std::string spool_room_problem(int fd, const std::string& dir)
{
    struct statvfs fs {};
    if (fstatvfs(fd, &fs) != 0)
        return {};   // the write that follows says what is wrong, if anything
    const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    const uint64_t size = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
    if (free_bytes * 100 >= size * spool_reserve_percent)
        return {};
    return fmt::format("cannot keep its part: {} has {} free, under the {}% of its filesystem ({}) kept free for "
                       "captures: merge a shorter time span or fewer nodes",
                       dir, human_bytes(free_bytes), spool_reserve_percent, human_bytes(size));
}

// One node's download: a thread that GETs its merged files into an
// unlinked file of its own (the spool), read by the merge once every
// node's is whole.
struct download {
    const fleet_merge_node& node;
    int fd = -1;          // the spool, open for reading and writing; gone from the folder
    std::thread thread;
    std::string error;    // set by the thread: empty when the whole body came

    download(const fleet_merge_node& n, std::string id) : node(n), fleet_id(std::move(id)) {}
    const std::string fleet_id;   // the fleet session whose part this is
    ~download()
    {
        if (thread.joinable())
            thread.join();
        if (fd >= 0)
            close(fd);
    }

    std::string start(const fleet_merge_settings& settings, const std::string& spool_dir)
    {
        fd = open(spool_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
            return fmt::format("{}: cannot make a file to download node {}'s part into: {}", spool_dir, node.node,
                               error_text(errno));
        thread = std::thread([this, &settings] { fetch(settings); });
        return {};
    }

    void fetch(const fleet_merge_settings& settings)
    {
        std::unique_ptr<httplib::Client> client;
        try {
            client = settings.cert_file.empty()
                         ? std::make_unique<httplib::Client>(node.url)
                         : std::make_unique<httplib::Client>(node.url, settings.cert_file, settings.key_file);
        } catch (const std::exception& e) {
            error = fmt::format("{}: not a URL linecap can fetch from ({})", node.url, e.what());
            return;
        }
        if (!client->is_valid()) {
            error = fmt::format("{}: not a URL linecap can fetch from (http://HOST:PORT or https://HOST:PORT)", node.url);
            return;
        }
        client->set_connection_timeout(settings.timeout);
        client->set_read_timeout(settings.timeout);
        client->set_tcp_nodelay(true);
        if (!settings.ca_file.empty())
            client->set_ca_cert_path(settings.ca_file.c_str());
        httplib::Headers headers;
        if (!settings.token.empty())
            headers.emplace("Authorization", "Bearer " + settings.token);
        // The node's session of that number must be this fleet session's:
        // a node numbers its sessions itself (rebuilt under the same name,
        // or a removed session's number taken again after a restart), and
        // another capture merged as its part would be a wrong file that
        // says nothing of it.
        if (node.local_id.empty() || node.local_id.find_first_not_of("0123456789") != std::string::npos) {
            error = fmt::format("its session there, \"{}\", is not a session number", node.local_id);
            return;
        }
        if (const httplib::Result shown = client->Get(fmt::format("/api/v1/sessions/{}", node.local_id), headers);
            shown && shown->status == 200) {
            const json reply = parse_stored_json(shown->body);   // a peer's, nested as deep as it likes
            const std::string fleet = text_of(reply.is_object() ? reply.value("session", json::object()) : json(), "fleet");
            if (fleet != fleet_id) {
                error = fmt::format("its session {} there is {}, not fleet session {}", node.local_id,
                                    fleet.empty() ? "no fleet session's" : "fleet session " + fleet + "'s", fleet_id);
                return;
            }
        }
        std::string path = fmt::format("/api/v1/sessions/{}/pcap?format=pcapng", node.local_id);
        if (settings.since_ns != 0)
            path += "&since=" + utc_iso8601(settings.since_ns);
        if (settings.until_ns != UINT64_MAX)
            path += "&until=" + utc_iso8601(settings.until_ns);
        int status = 0;
        int write_error = 0;
        bool cancelled = false;
        uint64_t spooled = 0;   // bytes of the part written to the spool so far
        std::string room;       // the spool's filesystem is down to its reserve (spool_room_problem)
        std::string refusal;   // the body of a reply other than 200: {"error": "..."}
        const sigpipe_blocked no_sigpipe;   // a node that ends the connection (https://)
        const httplib::Result r = client->Get(
            path, headers,
            [&](const httplib::Response& res) {
                status = res.status;
                return true;
            },
            [&](const char* data, size_t n) {
                if (settings.cancel && settings.cancel->load(std::memory_order_relaxed)) {
                    cancelled = true;
                    return false;
                }
                if (status != 200) {
                    refusal.append(data, std::min(n, size_t{4096} - std::min(refusal.size(), size_t{4096})));
                    return true;
                }
                if (spooled / spool_check_bytes != (spooled + n) / spool_check_bytes || spooled == 0)
                    if (room = spool_room_problem(fd, settings.spool_dir); !room.empty())
                        return false;
                spooled += n;
                if (write_all(fd, data, n))
                    return true;
                write_error = errno;
                return false;
            });
        if (cancelled)
            error = "the merge was cancelled";
        else if (!room.empty())
            error = room;
        else if (write_error != 0)
            error = fmt::format("cannot keep its part: {}", error_text(write_error));
        else if (!r)
            error = fmt::format("{}: {}", node.url,
                                r.error() == httplib::Error::Connection ? "cannot connect (is the node's --http there?)"
                                : r.error() == httplib::Error::Read
                                    ? fmt::format("no data for {} s, or the connection broke", settings.timeout.count() / 1000)
                                    : httplib::to_string(r.error()));
        else if (status != 200) {
            const json body = json::parse(refusal, nullptr, false);
            error = fmt::format("{} answered {}: {}", node.url, status,
                                text_of(body, "error").empty() ? refusal.substr(0, 200) : text_of(body, "error"));
        }
    }
};

// What makes a node's packet times doubtful against the others', if
// anything: its system clock, or its packet clock still catching up with
// it (after the system clock was set back, at 500 ppm).
std::string clock_doubt(const fleet_merge_node& n)
{
    const uint64_t behind = static_cast<uint64_t>(std::llabs(n.capture_offset_ns)) + n.capture_error_ns;
    if (!n.clock_synchronised)
        return fmt::format("node {}'s clock is NOT synchronised (no NTP or chrony, or they lost their sources): its "
                           "packets and other nodes' may be out of order by as much as its clock is off",
                           n.node);
    if (n.clock_error_us > fleet_clock_warning_us)
        return fmt::format("node {}'s clock error is ±{} µs: packets of different nodes closer in time than that may "
                           "be out of order",
                           n.node, n.clock_error_us);
    if (behind > static_cast<uint64_t>(fleet_clock_warning_us) * 1000)
        return fmt::format("node {}'s packet times are {:.3f} ms off its system clock (catching up with a clock that "
                           "was set): packets of different nodes closer in time than that may be out of order",
                           n.node, static_cast<double>(n.capture_offset_ns) / 1e6);
    return {};
}

// The output's name and description of a node's interface: node:PORT,
// the port found by the device name its record lists. The node's merge
// names an interface "linecap" when its files are pcap, which say no port:
// the node's one port if it has one, else the node alone.
std::pair<std::string, std::string> interface_of(const fleet_merge_node& n, const capture_reader& reader, uint32_t index)
{
    std::string device = reader.interface_name(index);
    if (device == "linecap" || device.empty()) {
        if (n.port_of.size() != 1)
            return {n.node, fmt::format("node {} (its files are pcap, which do not say the port)", n.node)};
        device = n.port_of.begin()->first;
    }
    const auto port = n.port_of.find(device);
    const auto known = n.driver_of.find(device);
    const std::string driver = !reader.interface_description(index).empty() ? reader.interface_description(index)
                               : known != n.driver_of.end()                   ? known->second
                                                                              : std::string();
    return {fmt::format("{}:{}", n.node, port != n.port_of.end() ? std::to_string(port->second) : device),
            fmt::format("node {}, {}{}", n.node, device, driver.empty() ? "" : " (" + driver + ")")};
}

} // namespace

std::string plan_fleet_merge(etcd_client& etcd, const std::string& id, fleet_merge_plan& plan, bool& unreachable)
{
    unreachable = false;
    plan = {};
    plan.id = id;
    std::optional<etcd_kv> key;
    std::map<std::string, json> records, members, statuses;
    std::string e = etcd.get(fleet_session_key(id), key);
    if (e.empty())
        e = read_objects(etcd, std::string(fleet_prefix) + "nodes/", records);
    if (e.empty())
        e = read_objects(etcd, fleet_member_prefix(id), members);
    if (e.empty())
        e = read_objects(etcd, fleet_status_prefix(id), statuses);
    if (!e.empty()) {
        unreachable = true;
        return e;
    }
    if (!key)
        return fmt::format("no fleet session {} (linecapctl fleet ls lists them)", id);
    fleet_session session;
    if (e = parse_fleet_session(parse_stored_json(key->value), session); !e.empty())
        return fmt::format("{} in etcd is not a fleet session: {}", key->key, e);

    // Who took part: the nodes it names, those that ran it, those that say a status of it.
    std::set<std::string> names(session.nodes.begin(), session.nodes.end());
    for (const auto* m : {&members, &statuses})
        for (const auto& [name, _] : *m)
            names.insert(name);
    for (const std::string& name : names) {
        fleet_merge_node n;
        n.node = name;
        const json status = statuses.count(name) ? statuses[name] : json::object();
        n.local_id = members.count(name) ? text_of(members[name], "local_id") : text_of(status, "local_id");
        if (const auto r = records.find(name); r != records.end()) {
            n.url = text_of(r->second, "url");
            for (const json& p : r->second.value("ports", json::array()))
                if (p.is_object() && p.contains("port") && p["port"].is_number_integer())
                {
                    n.port_of[text_of(p, "name")] = p["port"].get<int>();
                    n.driver_of[text_of(p, "name")] = text_of(p, "driver");
                }
            const json clock = r->second.value("clock", json::object());
            n.clock_synchronised = clock.is_object() && clock.value("synchronised", false);
            n.clock_error_us = clock.is_object() && clock.contains("est_error_us") && clock["est_error_us"].is_number()
                                   ? clock["est_error_us"].get<int64_t>()
                                   : -1;
            const json capture = clock.is_object() ? clock.value("capture", json::object()) : json::object();
            if (capture.is_object() && capture.contains("offset_ns") && capture["offset_ns"].is_number_integer())
                n.capture_offset_ns = capture["offset_ns"].get<int64_t>();
            if (capture.is_object() && capture.contains("error_ns") && capture["error_ns"].is_number_unsigned())
                n.capture_error_ns = capture["error_ns"].get<uint64_t>();
        }
        const std::string said = text_of(status, "status");
        if (n.local_id.empty())
            n.missing = said.empty() ? (n.url.empty() ? "not in the fleet now, and never said it ran it"
                                                      : "has not said it runs it")
                        : said == "not_started" ? "did not start it: " + text_of(status, "error")
                                                : fmt::format("never ran it ({})", said);
        else if (n.url.empty())
            n.missing = fmt::format("not in the fleet now (its lease ran out: stopped, dead or cut off); its session {} "
                                    "there is merged once it is back",
                                    n.local_id);
        else if (said == "gone")
            n.missing = fmt::format("its session {} there was deleted: {}", n.local_id, text_of(status, "error"));
        else if (said == "failed")
            n.failed = fmt::format("its session {} there failed ({}): what it wrote is merged", n.local_id,
                                   text_of(status, "error").empty() ? text_of(status, "reason") : text_of(status, "error"));
        plan.nodes.push_back(std::move(n));
    }
    return {};
}

std::string parse_fleet_merge_fields(const std::optional<std::string>& since, const std::optional<std::string>& until,
                                     const std::optional<std::string>& format, field_spelling spelling,
                                     uint64_t now_ns, fleet_merge_settings& settings)
{
    query_fields fields;
    if (std::string e = parse_query_fields({.since = since, .until = until, .format = format}, spelling, now_ns, fields,
                                           "for pcapng (one interface per node and port)");
        !e.empty())
        return e;
    settings.since_ns = fields.since_ns;
    settings.until_ns = fields.until_ns;
    settings.format = fields.format.value_or(file_format::pcapng);
    return {};
}

std::string fleet_merge(const fleet_merge_plan& plan, const fleet_merge_settings& settings, int out_fd,
                        const std::string& out_name, fleet_merge_report& report)
{
    report = {};
    std::vector<std::unique_ptr<download>> downloads;
    for (const fleet_merge_node& n : plan.nodes) {
        if (!n.missing.empty()) {
            report.missing.emplace_back(n.node, n.missing);
            continue;
        }
        auto d = std::make_unique<download>(n, plan.id);
        if (std::string e = d->start(settings, settings.spool_dir); !e.empty()) {
            close(out_fd);
            return e;
        }
        downloads.push_back(std::move(d));
    }
    // Every part whole before any is merged: a node whose packets come late
    // in time would otherwise wait on the merge longer than its server
    // waits on a client that does not read (5 s), and be cut off.
    std::vector<std::unique_ptr<merge_input>> inputs;
    std::vector<download*> merged;   // the downloads behind `inputs`, in order
    for (std::unique_ptr<download>& d : downloads) {
        d->thread.join();
        const fleet_merge_node& n = d->node;
        if (!d->error.empty()) {
            report.missing.emplace_back(n.node, d->error);
            continue;
        }
        auto in = std::make_unique<merge_input>();
        // The reader takes a descriptor of its own (the spool goes once both are closed).
        const int fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
        if (std::string e = fd < 0 ? error_text(errno) : in->reader.open_descriptor(fd, fmt::format("node {} ({})", n.node, n.url), false);
            !e.empty()) {
            report.missing.emplace_back(n.node, e);
            continue;
        }
        const capture_reader& reader = in->reader;
        in->name_interface = [&n, &reader](uint32_t index) { return interface_of(n, reader, index); };
        inputs.push_back(std::move(in));
        merged.push_back(d.get());
    }
    for (const fleet_merge_node& n : plan.nodes)
        if (std::string doubt = clock_doubt(n); n.missing.empty() && !doubt.empty())
            report.clock_warnings.push_back(std::move(doubt));
    if (inputs.empty()) {
        close(out_fd);
        return plan.nodes.empty() ? fmt::format("fleet session {}: no node has run it", plan.id)
                                  : fmt::format("fleet session {}: no node's part could be fetched", plan.id);
    }

    if (settings.cancel && settings.cancel->load()) {
        close(out_fd);
        return "the merge was cancelled";
    }
    if (settings.truncate_output && ftruncate(out_fd, 0) != 0) {
        const std::string e = fmt::format("{}: cannot empty it: {}", out_name, error_text(errno));
        close(out_fd);
        return e;
    }
    merge_sink out;
    out.fd = out_fd;
    out.name = out_name;
    out.format = settings.format;
    out.since_ns = settings.since_ns;
    out.until_ns = settings.until_ns;
    std::vector<std::string> names;
    for (const download* d : merged)
        names.push_back(d->node.node);
    out.comment = fmt::format("linecap fleet merge of fleet session {}: nodes {}", plan.id, fmt::join(names, ", "));
    for (const auto& [node, why] : report.missing)
        out.comment += fmt::format("\nPARTIAL: node {} is missing: {}", node, why);
    for (const download* d : merged)
        if (!d->node.failed.empty())
            out.comment += fmt::format("\nPARTIAL: node {}: {}", d->node.node, d->node.failed);
    for (const std::string& w : report.clock_warnings)
        out.comment += "\nclock: " + w;

    if (settings.on_parts_fetched)
        settings.on_parts_fetched(report);
    bool attached = false;
    const std::string error = merge_readers(inputs, out, report.merged, attached);
    if (!attached) {
        close(out_fd);
        return error;
    }
    // A part that could not be read to its end (a node's merge that broke
    // off midway) is missing in part.
    for (size_t i = 0; i < merged.size(); i++) {
        const fleet_merge_node& n = merged[i]->node;
        if (!inputs[i]->reader.error().empty())
            report.missing.emplace_back(n.node, fmt::format("its part breaks off after {}: {}",
                                                            count_of(inputs[i]->reader.packets(), "packet", "packets"),
                                                            inputs[i]->reader.error()));
        else if (!n.failed.empty())
            report.missing.emplace_back(n.node, n.failed);
        else
            report.merged_nodes.push_back(n.node);
    }
    // A write that failed is the error; a node that broke is in `missing`.
    if (report.merged.output.empty())
        return error;
    return {};
}

} // namespace linecap
