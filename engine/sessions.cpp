#include "engine/sessions.h"

#include <cstddef>

#include <unistd.h>

#include <fmt/format.h>
#include <rte_cycles.h>

#include "core/log.h"
#include "filters/classifier.h"

namespace linecap {

namespace {

// How long the control thread waits for a writer to carry out a command.
// Longer means a writer stuck in write() on a dead disk.
constexpr double command_timeout_s = 30.0;

// Sends one command to every writer and waits for all of them. Returns an
// empty string, or why not (a writer did not answer in time, or the lcores
// failed): the command objects are then leaked on purpose, as a writer may
// still touch them.
std::string tell_writers(pipeline& p, writer_command::kind what, unsigned slot, session* target,
                         std::vector<std::unique_ptr<writer_command>>& commands)
{
    const uint64_t give_up = rte_rdtsc() + static_cast<uint64_t>(command_timeout_s * static_cast<double>(p.clock.hz));
    const auto waited_too_long = [&] {
        if (p.failed.load(std::memory_order_relaxed))
            return std::string("the pipeline's lcores failed");
        if (rte_rdtsc() > give_up)
            return fmt::format("a writer did not answer within {:.0f} s (is its disk stuck?)", command_timeout_s);
        return std::string();
    };
    std::string error;
    for (writer* w : p.writers) {
        auto cmd = std::make_unique<writer_command>();
        cmd->what = what;
        cmd->slot = slot;
        cmd->target = target;
        while (error.empty() && rte_ring_sp_enqueue(w->commands, cmd.get()) != 0) {
            rte_delay_us_sleep(100);
            error = waited_too_long();
        }
        if (!error.empty())
            break;
        // Fenced, unlike a worker's ring: the command is not followed by
        // another enqueue that would ring again (writers/doorbell.h).
        std::atomic_thread_fence(std::memory_order_seq_cst);
        ring_doorbell(w->doorbell);
        commands.push_back(std::move(cmd));
    }
    for (auto& cmd : commands) {
        while (error.empty() && !cmd->done.load(std::memory_order_acquire)) {
            rte_delay_us_sleep(200);
            error = waited_too_long();
        }
    }
    if (!error.empty())
        for (auto& c : commands)
            (void)c.release();
    return error;
}

// Builds and swaps in a classifier for the sessions that have filters, then
// frees the old one once no worker can still be using it.
std::string swap_classifier(pipeline& p)
{
    std::vector<classifier::entry> entries;
    for (unsigned slot = 0; slot < max_sessions; slot++)
        if (p.filters[slot])
            entries.push_back({slot, p.filters[slot]});
    std::string error;
    std::unique_ptr<classifier> next = classifier::build(entries, static_cast<unsigned>(p.workers.size()),
                                                         static_cast<int>(rte_socket_id()), error);
    if (!next)
        return error;
    p.active_classifier.store(next.get(), std::memory_order_release);
    rte_rcu_qsbr_check(p.qsbr, rte_rcu_qsbr_start(p.qsbr), true);
    p.active_owner = std::move(next);
    return {};
}

// How this pipeline runs BPF: DPDK's checked and guarded JIT, or its
// interpreter (--bpf-interpreter); packets read from a file carry their
// wire length in their metadata, where the program's `len` is read.
struct bpf_loading {
    bpf_runner runner;
    int wire_len_offset;
};

bpf_loading bpf_loading_of(const pipeline& p)
{
    return {p.config.bpf_interpreter ? bpf_runner::interpreter : bpf_runner::guarded_jit,
            p.file ? packet_meta_offset + static_cast<int>(offsetof(packet_meta, wire_len)) : -1};
}

} // namespace

int free_session_slot(const pipeline& p, unsigned limit)
{
    for (unsigned slot = 0; slot < std::min(limit, max_sessions); slot++)
        if (!p.sessions[slot])
            return static_cast<int>(slot);
    return -1;
}

std::string load_session_filter(const pipeline& p, session_filter& filter)
{
    const bpf_loading how = bpf_loading_of(p);
    return filter.load_bpf(how.runner, how.wire_len_offset);
}

std::shared_ptr<const session_filter> compile_session_filter(const pipeline& p, const session_spec& spec,
                                                             std::string& error)
{
    const bpf_loading how = bpf_loading_of(p);
    return session_filter::compile(spec, error, how.runner, how.wire_len_offset);
}

std::string add_session(pipeline& p, unsigned slot, const session_spec& spec, int dir_fd)
{
    std::string error;
    auto filter = compile_session_filter(p, spec, error);
    if (!filter) {
        close(dir_fd);
        return error;
    }
    return add_session(p, slot, spec, dir_fd, std::move(filter));
}

std::string add_session(pipeline& p, unsigned slot, const session_spec& spec, int dir_fd,
                        std::shared_ptr<const session_filter> filter)
{
    std::string error;
    // Each writer keeps its share of keep_bytes (below): a share under one
    // file of the rotation deletes every file as it closes. The spec's own
    // check (keep_bytes against one file) cannot know the writers.
    const rotate_policy& rotate = spec.output.rotate;
    const auto writers = static_cast<uint64_t>(p.writers.size());
    if (rotate.keep_bytes != 0 && rotate.bytes != 0 && writers > 1 && rotate.keep_bytes / writers < rotate.bytes) {
        close(dir_fd);
        return fmt::format("rotate.keep_bytes: {} bytes is less than one file of the rotation (rotate.bytes {}) for "
                           "each of the {} writers, which keep {} bytes each: every file would be deleted as it "
                           "closed; give keep_bytes at least {} (or a smaller rotate.bytes)",
                           rotate.keep_bytes, rotate.bytes, writers, rotate.keep_bytes / writers,
                           rotate.bytes > UINT64_MAX / writers ? UINT64_MAX : rotate.bytes * writers);
    }
    if (filter->bpf && !filter->bpf->note().empty())
        log_event(log_module::engine, log_level::info, "session {}: note: bpf: {}", spec.output.name, filter->bpf->note());
    else if (filter->bpf && !filter->bpf->jit_refusal().empty())
        log_event(log_module::engine, log_level::info, "session {}: bpf: runs in DPDK's interpreter, not its JIT: {}",
                  spec.output.name, filter->bpf->jit_refusal());
    // From here the session owns the folder's descriptor.
    auto s = std::make_unique<session>();
    s->spec = spec.output;
    s->dir_fd = dir_fd;
    s->start_ns = p.clock.now_ns();
    s->packets_left.reset(spec.output.limits.packets);
    s->bytes_left.reset(spec.output.limits.bytes);
    // Each writer keeps an equal share: a simple rule that holds without the
    // writers talking to each other (docs/writers.md).
    if (spec.output.rotate.keep_bytes != 0)
        s->keep_bytes_per_writer = std::max<uint64_t>(1, spec.output.rotate.keep_bytes / p.writers.size());
    for (const port_plan& port : p.ports)
        s->interfaces.push_back({port.id, port.name, port.driver});
    s->read_interface = [](uint16_t port) {
        const port_counters c = read_port_counters(port);
        return interface_counters{c.rx_packets, c.imissed + c.nombuf};
    };
    // The slot's counters are cumulative: the session counts from where its
    // predecessor in the slot left them. (The slot is free: no worker
    // classifies for it and no writer has an output in it, so they hold still.)
    for (const worker* w : p.workers) {
        s->base_matched.push_back(w->counters.session_matched[slot].get());
        s->base_ring_drops.push_back(w->counters.session_ring_drops[slot].get());
    }
    for (const writer* w : p.writers)
        s->base_writers.push_back(writer_slot_totals(w->counters[slot]));

    std::vector<std::unique_ptr<writer_command>> opened;
    if (std::string e = tell_writers(p, writer_command::kind::open_session, slot, s.get(), opened); !e.empty()) {
        (void)s.release();   // a writer may still hold it
        return e;
    }
    for (const auto& cmd : opened)
        if (cmd->rc != 0 && error.empty())
            error = cmd->error;
    if (!error.empty()) {
        // Close what the other writers opened, and remove the empty files.
        std::vector<std::unique_ptr<writer_command>> closed;
        tell_writers(p, writer_command::kind::close_session, slot, nullptr, closed);
        for (writer* w : p.writers)
            for (const std::string& name : w->outputs[slot].files_on_disk())
                unlinkat(s->dir_fd, name.c_str(), 0);
        return error;
    }
    p.sessions[slot] = std::move(s);
    p.filters[slot] = filter;
    if (std::string e = swap_classifier(p); !e.empty()) {
        p.filters[slot].reset();
        std::vector<std::unique_ptr<writer_command>> closed;
        tell_writers(p, writer_command::kind::close_session, slot, nullptr, closed);
        p.sessions[slot].reset();
        return e;
    }
    return {};
}

std::string remove_session(pipeline& p, unsigned slot, stop_reason why,
                           const std::function<void(const pipeline&, unsigned)>& on_final)
{
    session* s = p.sessions[slot].get();
    if (s == nullptr)
        return {};
    // While a classifier that includes the session is live, its slot is
    // not free: if the rebuild fails (out of memory), the session goes on
    // and the caller may try again.
    std::shared_ptr<const session_filter> filter = std::move(p.filters[slot]);
    if (std::string e = swap_classifier(p); !e.empty()) {
        p.filters[slot] = std::move(filter);
        return "cannot rebuild the classifier without the session: " + e;
    }
    s->stop(why);
    std::vector<std::unique_ptr<writer_command>> closed;
    if (std::string e = tell_writers(p, writer_command::kind::close_session, slot, nullptr, closed); !e.empty()) {
        s->fail(stop_reason::error, "closing the session's files: " + e);
        if (on_final)
            on_final(p, slot);
        (void)p.sessions[slot].release();   // a writer may still hold it: leaked, and the slot with it
        return {};
    }
    if (on_final)
        on_final(p, slot);
    p.sessions[slot].reset();
    return {};
}

stop_reason due_limit(const pipeline& p, unsigned slot, uint64_t now_ns)
{
    const session* s = p.sessions[slot].get();
    // A clock read before the session's start (a re-anchored clock) is no
    // time elapsed, not 2^64 ns of it.
    if (s == nullptr || s->spec.limits.seconds <= 0 || now_ns <= s->start_ns)
        return stop_reason::none;
    const double elapsed = static_cast<double>(now_ns - s->start_ns) / 1e9;
    return elapsed >= s->spec.limits.seconds ? stop_reason::duration : stop_reason::none;
}

} // namespace linecap
