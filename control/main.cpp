// linecap [EAL options] -- [linecap options]
//
// Parses linecap's options before DPDK starts (so a typo costs nothing and
// prints one line), initialises EAL, builds the pipeline, runs it until a
// limit, a signal or idleness stops it, and prints what happened.
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <list>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include "control/daemon.h"
#include "core/error_text.h"
#include "core/helper_cpus.h"
#include "control/oneshot.h"
#include "control/options.h"
#include "core/log.h"
#include "engine/file_port.h"
#include "engine/pipeline.h"
#include "engine/sessions.h"
#include "control/stats_json.h"
#include "query/commands.h"
#include "writers/file_mapping.h"

using namespace linecap;

namespace {

void on_stop_signal(int)
{
    request_stop_from_signal();
}

void install_signal_handlers()
{
    struct sigaction action{};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

bool is_help_word(const char* arg)
{
    return std::strcmp(arg, "-h") == 0 || std::strcmp(arg, "--help") == 0 ||
           std::strcmp(arg, "--version") == 0;
}

int write_stats_json(const pipeline& p, const counters_snapshot& snap, const std::string& path, stop_reason reason,
                     double elapsed_s)
{
    std::ofstream out(path);
    out << stats_json(p, snap, reason, elapsed_s).dump(2) << '\n';
    out.close();
    if (!out) {
        fmt::print(stderr, "linecap: --stats-json {}: cannot write the file: {}\n", path, error_text(errno));
        return 1;
    }
    return 0;
}

// rte_eal_init, without the page of EAL usage it prints to stdout on a bad
// option: its log lines on stderr already name the option, and our one-line
// error follows.
int init_eal(std::vector<char*>& args)
{
    note_start_cpus();   // before EAL pins this thread to the main lcore
    std::fflush(stdout);
    const int saved = dup(STDOUT_FILENO);
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && null >= 0)
        dup2(null, STDOUT_FILENO);
    const int rc = rte_eal_init(static_cast<int>(args.size()), args.data());
    std::fflush(stdout);
    if (saved >= 0 && null >= 0)
        dup2(saved, STDOUT_FILENO);
    if (saved >= 0)
        close(saved);
    if (null >= 0)
        close(null);
    return rc;
}

// Whether EAL's words say which PCI devices to probe (an allow or block
// list), or that none should be.
bool names_pci_devices(const std::vector<char*>& eal_args)
{
    for (const char* arg : eal_args) {
        const std::string_view a(arg);
        for (std::string_view option : {"-a", "-b", "--allow", "--block", "--no-pci", "-w"})
            if (a.starts_with(option))
                return true;
    }
    return false;
}

// Whether one of EAL's words is `option` (as "--option", "--option=VALUE"
// or "--option VALUE"); its value, if any, goes to *value.
bool eal_option(const std::vector<char*>& eal_args, std::string_view option, std::string* value = nullptr)
{
    for (size_t i = 1; i < eal_args.size(); i++) {
        const std::string_view a(eal_args[i]);
        if (a == option) {
            if (value != nullptr && i + 1 < eal_args.size())
                *value = eal_args[i + 1];
            return true;
        }
        if (a.starts_with(option) && a.size() > option.size() && a[option.size()] == '=') {
            if (value != nullptr)
                *value = a.substr(option.size() + 1);
            return true;
        }
    }
    return false;
}

// After rte_eal_init failed: whether another process holds the lock on the
// runtime config of EAL's file prefix (DPDK 22.11 then says "Cannot create
// lock on ..." and leaves rte_errno 0). The file is where EAL puts it:
// /var/run/dpdk/PREFIX/config for root, else under $XDG_RUNTIME_DIR or /tmp.
// Returns the message for the operator, or an empty string.
std::string runtime_prefix_taken(const std::vector<char*>& eal_args)
{
    if (eal_option(eal_args, "--no-shconf") || eal_option(eal_args, "--in-memory"))
        return {};
    std::string prefix = "rte";
    eal_option(eal_args, "--file-prefix", &prefix);
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    const std::string base = getuid() == 0 ? "/var/run" : xdg != nullptr ? xdg : "/tmp";
    const std::string config = fmt::format("{}/dpdk/{}/config", base, prefix);
    const int fd = open(config.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return {};
    struct flock lock{};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const bool held = fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
    close(fd);
    if (!held)
        return {};
    return fmt::format("another DPDK process (pid {}) holds EAL's runtime prefix \"{}\" ({}); to run beside it, "
                       "give this one a prefix of its own with --file-prefix NAME, or no shared files with "
                       "--no-shconf (EAL options, before '--')",
                       lock.l_pid, prefix, config);
}

// Where a daemon's exit spends its time after "shut down after" (its
// sessions' files are closed by then): said, as a warning, only when the
// steps took over a second, since an operator's restart waits on them.
class exit_steps {
public:
    void done(const char* step)
    {
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - _last).count();
        _total += seconds;
        _steps += fmt::format("{}{} {:.1f} s", _steps.empty() ? "" : ", ", step, seconds);
        _last = now;
    }
    void report() const
    {
        if (_total > 1.0)
            log_event(log_module::control, log_level::warning, "the exit took {:.1f} s after shutting down: {}",
                      _total, _steps);
    }

private:
    std::chrono::steady_clock::time_point _last = std::chrono::steady_clock::now();
    double _total = 0;
    std::string _steps;
};

} // namespace

int main(int argc, char** argv)
{
    // Before EAL, which puts a SIGBUS handler of its own in place for a
    // moment while it maps hugepages: a capture file another program cuts
    // short while it is read is an error, not the end of the process.
    install_file_mapping_handler();
    // `linecap merge`, `index` and `query` need no DPDK.
    if (argc > 1 && std::strcmp(argv[1], "merge") == 0)
        return merge_main(argc - 1, argv + 1);
    if (argc > 1 && std::strcmp(argv[1], "index") == 0)
        return index_main(argc - 1, argv + 1);
    if (argc > 1 && std::strcmp(argv[1], "query") == 0)
        return query_main(argc - 1, argv + 1);

    // EAL's words before "--", ours after it. Without "--", `linecap --help`
    // is ours and anything else is EAL's.
    std::vector<char*> eal_args{argv[0]};
    std::vector<char*> our_args{argv[0]};
    int split = 1;
    while (split < argc && std::strcmp(argv[split], "--") != 0)
        split++;
    if (split < argc) {
        eal_args.insert(eal_args.end(), argv + 1, argv + split);
        our_args.insert(our_args.end(), argv + split + 1, argv + argc);
    } else if (argc > 1 && is_help_word(argv[1])) {
        our_args.insert(our_args.end(), argv + 1, argv + argc);
    } else {
        eal_args.insert(eal_args.end(), argv + 1, argv + argc);
    }

    // linecap's options among EAL's (`linecap -w out --no-huge -- ...`) would
    // reach EAL, which knows none of them: say where they go instead.
    {
        const std::vector<std::string> eal_words(eal_args.begin() + 1, eal_args.end());
        const std::vector<std::string> our_words(our_args.begin() + 1, our_args.end());
        if (std::string error = misplaced_options(eal_words, our_words, split < argc); !error.empty()) {
            print_error("linecap", error);
            return 2;
        }
    }

    engine_options options;
    switch (parse_options(static_cast<int>(our_args.size()), our_args.data(), options)) {
    case parse_result::exit_ok: return 0;
    case parse_result::exit_usage: return 2;
    case parse_result::run: break;
    }
    // The log (core/log.h), DPDK's lines included: a daemon's with times.
    log_to_stderr(options.daemon());
    // validate_options makes the --out folder; a -r file refused below
    // takes it away again if it made it (and nothing is in it).
    std::error_code out_ec;
    const bool out_existed = options.session.output.dir.empty() ||
                             std::filesystem::exists(options.session.output.dir, out_ec);
    if (std::string error = validate_options(options); !error.empty()) {
        print_error("linecap", error);
        return 2;
    }

    // -r FILE before DPDK too: a file that is not a capture costs one line.
    std::unique_ptr<file_port> files;
    if (!options.read_files.empty()) {
        files = std::make_unique<file_port>();
        std::string error;
        for (const std::string& path : options.read_files) {
            // A pipe (or standard input, "-") is read once, by the reader:
            // its errors come then.
            struct stat st{};
            std::string kind = "capture stream";
            if (path != "-" && stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
                print_error("linecap", fmt::format("-r {}: is a folder: give its capture files (-r takes one file "
                                                   "and may be given again: they are read one after the other; "
                                                   "linecap merge -o - {} | linecap ... -r - reads a folder's files "
                                                   "in time order)",
                                                   path, path));
                if (!out_existed)
                    std::filesystem::remove(options.session.output.dir, out_ec);
                return 2;
            }
            if (path != "-" && (stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode))) {
                const std::unique_ptr<capture_reader> file = open_replay_file(path, error);
                if (!file) {
                    print_error("linecap", error);
                    if (!out_existed)
                        std::filesystem::remove(options.session.output.dir, out_ec);
                    return 1;
                }
                kind = file->format_name() + " file";
            }
            files->kind = files->kind.empty() || files->kind == kind ? kind : "capture files";
            files->paths.push_back(path);
        }
        const size_t more = files->paths.size() - 1;
        files->name = more == 0 ? files->paths[0]
                                : fmt::format("{} and {} more file{}", files->paths[0], more, more == 1 ? "" : "s");
        // The files are the only source: no PCI scan, unless EAL was told
        // about PCI devices (then build_pipeline refuses them by name, as
        // it does vdevs).
        if (!names_pci_devices(eal_args))
            eal_args.push_back(const_cast<char*>("--no-pci"));
    }

    // The daemon's socket and catalog before DPDK: a bad path costs one line.
    std::unique_ptr<control_daemon> daemon;
    if (options.daemon()) {
        daemon = std::make_unique<control_daemon>(options);
        if (std::string error = daemon->prepare(); !error.empty()) {
            print_error("linecap", error);
            return 1;
        }
    }

    // -i IFACE: an af_packet port on it, numbered past the user's own.
    std::list<std::string> added_words;   // stable addresses for eal_args
    const auto add_eal_word = [&](std::string word, size_t at) {
        added_words.push_back(std::move(word));
        eal_args.insert(eal_args.begin() + static_cast<std::ptrdiff_t>(at), added_words.back().data());
    };
    unsigned af_packet = 0;
    for (const std::string& iface : options.interfaces) {
        const auto used = [&](unsigned n) {
            const std::string name = fmt::format("net_af_packet{}", n);
            return std::any_of(eal_args.begin(), eal_args.end(),
                               [&](const char* a) { return std::string_view(a).find(name) != std::string_view::npos; });
        };
        while (used(af_packet))
            af_packet++;
        add_eal_word("--vdev", eal_args.size());
        add_eal_word(fmt::format("net_af_packet{},iface={}", af_packet, iface), eal_args.size());
    }
    // An interface is the source: no PCI scan, unless EAL was told of PCI devices.
    if (!options.interfaces.empty() && !names_pci_devices(eal_args))
        eal_args.push_back(const_cast<char*>("--no-pci"));
    // EAL's start-up lines (lcores, IOVA mode, ...) are for when something
    // is wrong: warnings and errors only, unless the user sets a level.
    if (std::none_of(eal_args.begin(), eal_args.end(),
                     [](const char* a) { return std::string_view(a).starts_with("--log-level"); }))
        add_eal_word("--log-level=lib.eal:warning", 1);

    install_signal_handlers();
    // rte_eal_init rewrites its argv in place (its last option's word
    // becomes the program name): the words as given are read from a copy.
    const std::vector<char*> eal_words = eal_args;
    const int eal_parsed = init_eal(eal_args);
    if (eal_parsed < 0) {
        if (std::string taken = runtime_prefix_taken(eal_words); !taken.empty()) {
            print_error("linecap", taken);
            return 1;
        }
        // rte_errno is 0 after many of EAL's failures: no "Success" then.
        fmt::print(stderr,
                   "linecap: DPDK EAL initialisation failed{}. Check the EAL options before '--' "
                   "(EAL's messages above say which; the options are in DPDK's Linux guide, "
                   "\"EAL parameters\"), that hugepages are reserved (or pass --no-huge -m 512), "
                   "and that you run as root.\n",
                   rte_errno != 0 ? ": " + rte_error_text(rte_errno) : "");
        return 1;
    }
    // Words EAL took for no option of its own (it moves them to the end):
    // a filter expression typed before "--" would otherwise be ignored and
    // the capture run unfiltered.
    if (const auto used = static_cast<size_t>(eal_parsed) + 1; used < eal_args.size()) {
        std::string words;
        for (size_t i = used; i < eal_args.size(); i++)
            words += (words.empty() ? "" : " ") + std::string(eal_args[i]);
        fmt::print(stderr, "linecap: \"{}\" before '--' is no EAL option or value; linecap's options and the filter "
                           "expression go after '--': linecap [EAL options] -- -w out {}\n",
                   words, words);
        rte_eal_cleanup();
        return 2;
    }

    int status = 0;
    std::optional<exit_steps> exit_timing;   // a daemon's
    {
        pipeline p;
        p.config = options;   // the engine's part of them
        p.file = std::move(files);
        if (std::string error = build_pipeline(p); !error.empty()) {
            print_error("linecap", error);
            status = 1;
        } else if (daemon) {
            status = run_pipeline(
                         p, [&](pipeline& running) { return daemon->start_initial_sessions(running); },
                         [&](pipeline& running) { daemon->run(running); })
                         ? 0
                         : 1;
            log_event(log_module::control, log_level::info, "shut down after {:.3f} s",
                      p.seconds_since_start(p.stop_tsc ? p.stop_tsc : p.start_tsc));
            exit_timing.emplace();
        } else if (!run_pipeline(
                       p, [&](pipeline& running) { return start_oneshot_session(running, options); },
                       [&](pipeline& running) { oneshot_control(running, options); }) ||
                   !p.sessions[0]) {
            status = 1;   // the reason is printed already
        } else {
            const stop_reason reason = p.sessions[0]->reason.load();
            const double elapsed = p.seconds_since_start(p.stop_tsc ? p.stop_tsc : p.start_tsc);
            const counters_snapshot snap = take_snapshot(p);
            print_summary(snap, reason, elapsed, stderr);
            if (!options.stats_json.empty())
                status = write_stats_json(p, snap, options.stats_json, reason, elapsed);
            if (reason == stop_reason::disk_full || reason == stop_reason::error)
                status = 1;
        }
        close_ports(p);
        if (exit_timing)
            exit_timing->done("ports closed");
    }
    if (exit_timing)
        exit_timing->done("writers' files and threads released");
    rte_eal_cleanup();
    if (exit_timing) {
        exit_timing->done("EAL cleaned up");
        daemon.reset();
        exit_timing->done("control threads joined");
        exit_timing->report();
    }
    return status;
}
