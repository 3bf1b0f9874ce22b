#include "query/commands.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/command_line.h"
#include "core/human_units.h"
#include "core/query_fields.h"
#include "core/utc_time.h"
#include "query/query.h"
#include "writers/capture_index.h"
#include "writers/merge.h"
#include "writers/session_output.h"

namespace linecap {

namespace {

// The words an expression in tcpdump's language starts with (libpcap's
// pcap-filter(7): its primitives' qualifiers and protocols, and `not`);
// `(` and `!` too.
bool is_expression_keyword(const std::string& word)
{
    static constexpr std::string_view keywords[] = {
        "(", "!", "not", "dst", "src", "host", "net", "port", "portrange", "gateway", "less", "greater", "len",
        "proto", "protochain", "ether", "fddi", "tr", "wlan", "ip", "ip6", "arp", "rarp", "decnet", "lat", "sca",
        "moprc", "mopdl", "tcp", "udp", "icmp", "icmp6", "igmp", "igrp", "pim", "vrrp", "carp", "sctp", "ah", "esp",
        "atalk", "aarp", "iso", "esis", "es-is", "isis", "is-is", "clnp", "stp", "ipx", "netbeui", "vlan", "mpls",
        "pppoed", "pppoes", "geneve", "broadcast", "multicast", "inbound", "outbound", "ifindex", "link", "type",
        "subtype", "dir", "llc", "l1", "l2", "iih", "lsp", "snp", "csnp", "psnp", "radio", "byte", "length",
        "ppp", "slip", "addr1", "addr2", "addr3", "addr4", "ra", "ta", "direction"};
    return std::find(std::begin(keywords), std::end(keywords), word) != std::end(keywords);
}

} // namespace

int index_main(int argc, char** argv)
{
    CLI::App app{"Writes the index (FILE.idx) of each capture file named, or of each capture file linecap wrote in "
                 "each folder named, for `linecap query` (docs/query.md).",
                 "linecap index"};
    std::vector<std::string> inputs;
    uint64_t chunk_bytes = index_chunk_bytes;
    // Not ->required(): CLI11 would say "inputs is required", its name for
    // the list, not what the user must give.
    app.add_option("inputs", inputs, "capture files, or folders of them")->type_name("FILE|DIR");
    app.add_option("--chunk-bytes", chunk_bytes, "bytes of capture file per index chunk (default 16777216, as the writers index)")
        ->check(CLI::Range(uint64_t{4096}, uint64_t{1} << 32))
        ->type_name("BYTES");
    if (const std::optional<int> status = parse_subcommand(app, argc, argv, "linecap index"))
        return *status;
    if (inputs.empty()) {
        std::cerr << "linecap index: no capture file or folder given: give them: linecap index DIR (the files "
                     "linecap wrote there) or linecap index FILE...\n";
        return 2;
    }
    // Each index once, however its file was named (`F ./F`, a folder and a
    // file in it): two threads writing one FILE.idx would tear it. Its
    // place is the name's folder and the name (a hard link elsewhere has an
    // index of its own). In a folder, symbolic links are passed over, as
    // queries pass them over there.
    std::vector<std::string> files;
    std::vector<std::filesystem::path> places;
    bool empty_folder = false;   // a folder given held no file to index
    const auto take = [&](const std::string& name) {
        const std::filesystem::path given(name);
        std::error_code ec;
        const std::filesystem::path folder =
            std::filesystem::weakly_canonical(std::filesystem::absolute(given, ec).parent_path(), ec);
        if (!ec) {
            const std::filesystem::path place = folder / given.filename();
            if (std::find(places.begin(), places.end(), place) != places.end())
                return;
            places.push_back(place);
        }
        files.push_back(name);   // one that cannot be read says why when it is indexed
    };
    for (const std::string& in : inputs) {
        std::error_code ec;
        if (!std::filesystem::is_directory(in, ec)) {
            take(in);
            continue;
        }
        std::vector<std::pair<std::string, bool>> names;   // and whether it is a link
        for (const auto& e : std::filesystem::directory_iterator(in, ec))
            if (is_writer_file_name(e.path().filename().string())) {
                std::error_code link_ec;
                names.emplace_back(e.path().string(), e.is_symlink(link_ec));
            }
        if (ec) {
            fmt::print(stderr, "linecap index: {}: cannot list the folder: {}\n", in, ec.message());
            return 1;
        }
        std::sort(names.begin(), names.end());
        // Nothing to index is a failure, as a file that cannot be indexed
        // is: a script must not take it for a ring indexed.
        if (names.empty()) {
            fmt::print(stderr,
                       "linecap index: {}: no capture files written by linecap (NAME-wN-SEQ-TIME.pcap, .pcapng, "
                       ".part) in this folder; to index other capture files, name them: linecap index {}\n",
                       in, shell_word(in) + (in.ends_with('/') ? "*.pcap" : "/*.pcap"));
            empty_folder = true;
        }
        for (const auto& [name, link] : names)
            if (link)
                fmt::print(stderr, "linecap index: {}: a symbolic link: not followed in a folder (give the file it "
                                   "names as an input)\n",
                           name);
            else
                take(name);
    }
    // Each file's index is work of its own: on every CPU at once (a ring of
    // 1 GB files indexes at some 300-370 MB/s a CPU), reported in the order
    // given, each as soon as it and those before it are done.
    struct outcome {
        index_build_result r;
        std::string error;
        bool done = false;
    };
    std::vector<outcome> outcomes(files.size());
    std::mutex mutex;
    std::condition_variable done;
    std::atomic<size_t> next{0};
    const auto work = [&] {
        for (size_t i; (i = next.fetch_add(1)) < files.size();) {
            outcome o;
            if (!files[i].ends_with(".part"))
                o.error = index_capture_file(files[i], index_name_of(files[i]), chunk_bytes, o.r);
            const std::lock_guard lock(mutex);
            outcomes[i] = std::move(o);
            outcomes[i].done = true;
            done.notify_all();
        }
    };
    std::vector<std::thread> pool;
    const size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), files.size());
    for (size_t t = 0; t < threads; t++)
        pool.emplace_back(work);
    int status = 0;
    for (size_t i = 0; i < files.size(); i++) {
        const std::string& file = files[i];
        {
            std::unique_lock lock(mutex);
            done.wait(lock, [&] { return outcomes[i].done; });
        }
        if (file.ends_with(".idx.part")) {
            fmt::print(stderr, "linecap index: {}: an index being written (or left unfinished by a crash), not a "
                               "capture file: give the capture file beside it\n",
                       file);
            status = 1;
            continue;
        }
        if (file.ends_with(".part")) {
            fmt::print(stderr,
                       "linecap index: {}: being written: its writer indexes it (one left by a crash is finished, "
                       "its index with it, by the daemon's recovery when the daemon starts again; one a one-shot "
                       "linecap left: rename it without .part, then index it)\n",
                       file);
            continue;
        }
        const index_build_result& r = outcomes[i].r;
        const std::string& e = outcomes[i].error;
        const std::string index_path = index_name_of(file);
        if (!e.empty() && r.index_bytes == 0) {
            fmt::print(stderr, "linecap index: {}\n", e);
            status = 1;
            continue;
        }
        if (!e.empty())
            fmt::print(stderr, "linecap index: {}\n", e);
        // The index its writer left unfinished (a crash between the file's
        // rename and its index's): this one replaces it. Only a regular
        // file: a link or anything else at that name is not ours. (A
        // writer between the two renames that moment loses its index's
        // rename, and says so: the one made here stands for it.)
        struct stat st{};
        if (const std::string torn = index_name_of(file + ".part");
            lstat(torn.c_str(), &st) == 0 && S_ISREG(st.st_mode) && unlink(torn.c_str()) == 0)
            fmt::print(stderr, "linecap index: {}: removed, left unfinished by its writer; {} replaces it\n", torn,
                       index_path);
        fmt::print("{}: {} packets in {} chunk{}, {} bytes of index ({:.3f}% of the file)\n", index_path, r.packets,
                   r.chunks, r.chunks == 1 ? "" : "s", r.index_bytes,
                   r.capture_bytes == 0 ? 0.0 : 100.0 * static_cast<double>(r.index_bytes) / static_cast<double>(r.capture_bytes));
        std::fflush(stdout);
    }
    for (std::thread& t : pool)
        t.join();
    return status != 0 ? status : empty_folder ? 1 : 0;
}

int merge_main(int argc, char** argv)
{
    CLI::App app{"linecap merge: captures merged into one file in timestamp order", "linecap merge"};
    merge_request request;
    std::string format, since, until;
    CLI::Option* out_option =
        app.add_option("-o,--out,--output", request.output,
                       "The merged file; - for standard output (default: merged.<ext> beside the first input)")
            ->type_name("FILE");
    app.add_flag("--force", request.force, "Replace the -o file if it exists");
    // Checked by the parse every entry point shares (core/query_fields.h).
    CLI::Option* format_option =
        app.add_option("--format", format, "pcap-ns, pcap or pcapng (default: the first input's)")->type_name("FORMAT");
    CLI::Option* since_option =
        app.add_option("--since", since, "Only packets from this UTC time on: 2026-11-29T18:53:45Z, \"2026-11-29 "
                                         "18:53:45\", -5m or \"5m ago\" (5 minutes ago)")
            ->type_name("TIME");
    CLI::Option* until_option =
        app.add_option("--until", until, "Only packets up to this UTC time (the same forms)")->type_name("TIME");
    // Not ->required(): CLI11 would say "inputs is required".
    app.add_option("inputs", request.inputs,
                   "Capture files (.pcap, .pcapng, .part) or folders of them (the files linecap wrote there)")
        ->type_name("FILE|DIR");
    if (const std::optional<int> status = parse_subcommand(app, argc, argv, "linecap merge"))
        return *status;
    // -o "" (a variable never set) is no request for the default name.
    if (out_option->count() > 0 && request.output.empty()) {
        std::cerr << "linecap merge: -o: empty: give the file to write, e.g. -o capture.pcap (or -o - for standard "
                     "output; leave -o out for merged.<ext> beside the first input)\n";
        return 2;
    }
    const auto given = [](const CLI::Option* option, const std::string& text) {
        return option->count() > 0 ? std::optional<std::string>(text) : std::nullopt;   // "" given is a mistake
    };
    query_fields fields;
    if (std::string e = parse_query_fields({.since = given(since_option, since), .until = given(until_option, until),
                                            .format = given(format_option, format)},
                                           field_spelling::option, utc_now_ns(), fields);
        !e.empty()) {
        std::cerr << "linecap merge: " << e << "\n";
        return 2;
    }
    // The options' values first, as linecap query checks them (`--since DIR`
    // is a bad time, not the inputs missing).
    if (request.inputs.empty()) {
        std::cerr << "linecap merge: no capture file or folder given: give them: linecap merge -o OUT DIR (the "
                     "files linecap wrote there) or linecap merge -o OUT FILE...\n";
        return 2;
    }
    request.since_ns = fields.since_ns;
    request.until_ns = fields.until_ns;
    request.format = fields.format;
    merge_result result;
    const std::string error = merge_captures(request, result);
    for (const std::string& note : result.notes)
        std::cerr << "linecap merge: note: " << note << "\n";
    if (!error.empty()) {
        std::cerr << "linecap merge: " << error << "\n";
        return 1;
    }
    std::cerr << fmt::format("linecap merge: {} from {} into {}\n", count_of(result.packets, "packet", "packets"),
                             count_of(result.files, "file", "files"), result.output == "-" ? "standard output" : result.output);
    return 0;
}

int query_main(int argc, char** argv)
{
    CLI::App app{"linecap query: the packets of capture files that a tcpdump expression selects in a time window, in "
                 "time order, read through each file's index (docs/query.md)",
                 "linecap query"};
    query_request request;
    std::string format, since, until;
    std::vector<std::string> words;
    // Not ->required(): CLI11 would say "--out is required", not what to type.
    CLI::Option* out_option =
        app.add_option("-o,--out,--output", request.merge.output, "The file to write; - for standard output")->type_name("FILE");
    app.add_flag("--force", request.merge.force, "Replace the -o file if it exists");
    // Checked by the parse every entry point shares (core/query_fields.h),
    // not by CLI11, whose words would be this entry point's alone.
    CLI::Option* format_option =
        app.add_option("--format", format, "pcap-ns, pcap or pcapng (default: the first input's)")->type_name("FORMAT");
    CLI::Option* since_option = app.add_option("--since", since,
                   "Only packets from this UTC time on: 2026-11-29T18:53:45Z, \"2026-11-29 18:53:45\", -5m or "
                   "\"5m ago\"")
        ->type_name("TIME");
    CLI::Option* until_option =
        app.add_option("--until", until, "Only packets up to this UTC time (the same forms)")->type_name("TIME");
    std::string inner, vni;
    CLI::Option* inner_option = app.add_option("--inner-host", inner,
                   "Only packets in a tunnel (VXLAN on 4789 or 8472, GENEVE, GRE, ERSPAN, IP-in-IP) whose innermost "
                   "packet has a source or destination address in ADDR: an address (10.4.2.50), a prefix "
                   "(10.4.2.0/24) or a range (10.4.2.1-10.4.2.9)")
        ->type_name("ADDR");
    CLI::Option* vni_option = app.add_option("--vni", vni, "Only packets whose outermost tunnel has this id (VNI, GRE key, ERSPAN session id)")
        ->type_name("N");
    // Not ->required(): CLI11 would say "words is required", its name for
    // the list, not what the user must give.
    app.add_option("words", words,
                   "Capture files or folders (the files linecap wrote there), then the tcpdump expression")
        ->type_name("FILE|DIR... [EXPRESSION]");
    if (const std::optional<int> status = parse_subcommand(app, argc, argv, "linecap query"))
        return *status;
    // The options' values first: an option that took the next word for
    // its value (`--since FILE`) is said as that, not as the word missing.
    // Given empty is not left out: --until "" is a mistake (a variable
    // that was never set), refused as every entry point refuses it.
    const auto given = [](const CLI::Option* option, const std::string& text) {
        return option->count() > 0 ? std::optional<std::string>(text) : std::nullopt;
    };
    query_fields fields;
    if (std::string e = parse_query_fields({.since = given(since_option, since),
                                            .until = given(until_option, until),
                                            .format = given(format_option, format),
                                            .inner_host = given(inner_option, inner),
                                            .vni = given(vni_option, vni)},
                                           field_spelling::option, utc_now_ns(), fields);
        !e.empty()) {
        std::cerr << "linecap query: " << e << "\n";
        return 2;
    }
    if (out_option->count() == 0) {   // the words linecapctl query gives
        std::cerr << "linecap query: -o FILE is required: where to write the capture, e.g. linecap query -o "
                     "capture.pcap DIR EXPRESSION (or -o - | tshark -r -)\n";
        return 2;
    }
    // -o "" (a variable never set) would be merge's default, merged.pcap
    // beside the first input: a file nobody named.
    if (request.merge.output.empty()) {
        std::cerr << "linecap query: -o: empty: give the file to write, e.g. -o capture.pcap (or -o - for standard "
                     "output)\n";
        return 2;
    }
    if (words.empty()) {
        std::cerr << "linecap query: no capture file or folder given: give them, then the expression: linecap query "
                     "-o OUT DIR \"host 10.0.0.1\"\n";
        return 2;
    }
    // The inputs are the leading words that name files or folders; the
    // expression is the rest, as tcpdump takes it.
    // (A path that cannot be looked at for want of permission is an input
    // too: opening it says why. Not a word without a '/': from a folder the
    // user may not search, every word would be one, "udp" included.)
    // After the first (there is at least one input), a word of tcpdump's
    // language starts the expression even where a file or folder has its
    // name (`linecap query -o OUT DIR host 10.0.0.1` run in a folder
    // holding one named host): ./host names that one.
    const auto names_something = [](const std::string& word, bool first) {
        if (!first && word.find('/') == std::string::npos && is_expression_keyword(word))
            return false;
        struct stat st{};
        return lstat(word.c_str(), &st) == 0 || (errno == EACCES && word.find('/') != std::string::npos);
    };
    size_t first_word = 0;
    while (first_word < words.size() && names_something(words[first_word], first_word == 0))
        first_word++;
    request.merge.inputs.assign(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(first_word));
    for (size_t i = first_word; i < words.size(); i++)
        request.expression += (i == first_word ? "" : " ") + words[i];
    if (request.merge.inputs.empty()) {
        std::cerr << fmt::format("linecap query: {}: no such file or folder; give the capture files or folders "
                                 "first, then the expression: linecap query -o OUT DIR \"host 10.0.0.1\"\n",
                                 words.front());
        return 2;
    }
    request.merge.since_ns = fields.since_ns;
    request.merge.until_ns = fields.until_ns;
    request.merge.format = fields.format;
    request.inner = fields.inner_host;
    request.vni = fields.vni;
    query_result result;
    const std::string error = run_query(request, result);
    for (const std::string& note : result.merge.notes)
        std::cerr << "linecap query: note: " << note << "\n";
    if (!error.empty()) {
        // An input misspelt after the first is read as the expression's
        // start: say so when that word looks like a file's name.
        std::string hint;
        if (result.expression_refused && first_word < words.size()) {
            // Not a whole expression given as one argument ("net 10.4.0.0/16
            // and ...": a space), nor a prefix (10.4.0.0/16, 2001:db8::/32).
            const std::string& word = words[first_word];
            const size_t dot = word.rfind('.');
            const bool prefix = word.find_first_not_of("0123456789abcdefABCDEF.:/") == std::string::npos;
            const bool spaced = word.find_first_of(" \t") != std::string::npos;
            if (!spaced && !prefix &&
                (word.find('/') != std::string::npos ||
                 (dot != std::string::npos && dot + 1 < word.size() &&
                  std::isalpha(static_cast<unsigned char>(word[dot + 1])))))
                hint = fmt::format(" (\"{}\", read as its first word, is no file or folder)", word);
        }
        std::cerr << "linecap query: " << error << hint << "\n";
        return result.expression_refused ? 2 : 1;   // an expression tcpdump refuses is the command line's fault
    }
    std::cerr << "linecap query: "
              << query_summary(result.merge.packets, result.merge.files, result.merge.output, result.bytes_read,
                               result.capture_bytes, result.chunks_read, result.chunks)
              << "\n";
    return 0;
}

} // namespace linecap
