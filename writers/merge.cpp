#include "writers/merge.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <memory>
#include <queue>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pcap/pcap.h>

#include "writers/capture_writer.h"

namespace linecap {

namespace {

namespace fs = std::filesystem;

bool is_capture_name(const std::string& name)
{
    for (const char* ext : {".pcap", ".pcapng", ".pcap.part", ".pcapng.part"})
        if (name.size() > std::strlen(ext) && name.compare(name.size() - std::strlen(ext), std::string::npos, ext) == 0)
            return true;
    return false;
}

std::optional<file_format> format_of(const std::string& path)
{
    FILE* f = fopen(path.c_str(), "rb");
    uint32_t magic = 0;
    const bool ok = f && fread(&magic, sizeof magic, 1, f) == 1;
    if (f)
        fclose(f);
    if (!ok)
        return std::nullopt;
    if (magic == pcap_magic_us || magic == __builtin_bswap32(pcap_magic_us))
        return file_format::pcap_us;
    if (magic == pcap_magic_ns || magic == __builtin_bswap32(pcap_magic_ns))
        return file_format::pcap_ns;
    if (magic == pcapng_section_header)
        return file_format::pcapng;
    return std::nullopt;
}

struct input {
    std::string path;
    pcap_t* pcap = nullptr;
    std::vector<uint8_t> data;    // the pending record's bytes
    uint64_t ts_ns = 0;
    uint32_t caplen = 0;
    uint32_t len = 0;
    uint64_t records = 0;

    ~input()
    {
        if (pcap != nullptr)
            pcap_close(pcap);
    }

    // Loads the next record. Returns false at the end, or at an error
    // (recorded in `note`): a .part file ends in the middle of its last record.
    bool next(std::string& note)
    {
        pcap_pkthdr* h;
        const u_char* d;
        const int rc = pcap_next_ex(pcap, &h, &d);
        if (rc != 1) {
            if (rc == PCAP_ERROR)
                note = fmt::format("{}: ends after {} complete records ({})", path, records, pcap_geterr(pcap));
            return false;
        }
        // In a .part file, a record of all zeros is where a crash left the
        // space a chunk in flight had grown the file by (output_file.h): the
        // data ends there. Finished files are taken as they are.
        if (h->ts.tv_sec == 0 && h->ts.tv_usec == 0 && h->caplen == 0 && h->len == 0 && path.ends_with(".part")) {
            note = fmt::format("{}: ends after {} complete records (zeros follow: the rest was never "
                               "written)", path, records);
            return false;
        }
        // Unsigned, so that a pcapng time past 2554 (over 64 bits of
        // nanoseconds) wraps instead of overflowing (found by fuzz-merge-reader).
        ts_ns = static_cast<uint64_t>(h->ts.tv_sec) * 1000000000u + static_cast<uint64_t>(h->ts.tv_usec);
        caplen = h->caplen;
        len = h->len;
        data.assign(d, d + h->caplen);
        records++;
        return true;
    }
};

} // namespace

std::string merge_captures(const merge_request& request, merge_result& result)
{
    // Expand folders, keep the order given.
    std::vector<std::string> paths;
    for (const std::string& in : request.inputs) {
        std::error_code ec;
        if (fs::is_directory(in, ec)) {
            std::vector<std::string> found;
            for (const auto& entry : fs::directory_iterator(in, ec))
                if (entry.is_regular_file() && is_capture_name(entry.path().filename()))
                    found.push_back(entry.path());
            if (ec)
                return fmt::format("{}: cannot list the folder: {}", in, ec.message());
            std::sort(found.begin(), found.end());
            if (found.empty())
                return fmt::format("{}: no capture files (.pcap, .pcapng, .part) in this folder", in);
            paths.insert(paths.end(), found.begin(), found.end());
        } else {
            paths.push_back(in);
        }
    }
    if (paths.empty())
        return "no input files";

    std::string output = request.output;
    const std::optional<file_format> first_format = format_of(paths.front());
    const file_format format = request.format ? *request.format : first_format.value_or(file_format::pcap_ns);
    if (output.empty())
        output = (fs::path(paths.front()).parent_path() / ("merged." + std::string(format_extension(format)))).string();
    if (std::find_if(paths.begin(), paths.end(), [&](const std::string& p) {
            std::error_code ec;
            return fs::equivalent(p, output, ec);
        }) != paths.end())
        return fmt::format("{}: the output is also an input", output);
    std::error_code exists_ec;
    if (fs::exists(output, exists_ec))
        return fmt::format("{}: already exists; give another -o", output);

    std::vector<std::unique_ptr<input>> inputs;
    int linktype = -1;
    for (const std::string& path : paths) {
        // A capture killed right after creating its next file leaves that
        // .part file empty: nothing in it to lose, so not an error.
        std::error_code size_ec;
        if (path.ends_with(".part") && fs::file_size(path, size_ec) == 0 && !size_ec) {
            result.notes.push_back(fmt::format("{}: empty (the capture stopped as it created it); skipped", path));
            continue;
        }
        auto in = std::make_unique<input>();
        in->path = path;
        char errbuf[PCAP_ERRBUF_SIZE];
        in->pcap = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
        if (in->pcap == nullptr)
            return fmt::format("{}: not a pcap or pcapng file linecap can read: {}", path, errbuf);
        const int dlt = pcap_datalink(in->pcap);
        if (linktype == -1)
            linktype = dlt;
        else if (dlt != linktype)
            return fmt::format("{}: link type {} differs from the first input's {}; merge files of one kind",
                               path, pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?",
                               pcap_datalink_val_to_name(linktype) ? pcap_datalink_val_to_name(linktype) : "?");
        inputs.push_back(std::move(in));
    }
    if (inputs.empty())
        return "every input is an empty .part file: nothing to merge";
    // The two link types linecap writes: Ethernet, and raw IP ("decap": "ip").
    if (linktype != DLT_EN10MB && linktype != DLT_RAW)
        return fmt::format("{}: link type {} is neither Ethernet nor raw IP; linecap writes those two",
                           paths.front(),
                           pcap_datalink_val_to_name(linktype) ? pcap_datalink_val_to_name(linktype) : "?");

    const fs::path out_path(output);
    const std::string dir = out_path.has_parent_path() ? out_path.parent_path().string() : ".";
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return fmt::format("{}: cannot open the folder: {}", dir, strerror(errno));
    capture_writer writer;
    capture_file_options options;
    options.format = format;
    options.linktype = linktype == DLT_RAW ? linktype_raw : linktype_ethernet;
    if (int rc = writer.open(dir_fd, out_path.filename().string(), options); rc != 0) {
        close(dir_fd);
        return fmt::format("{}: cannot create it: {}", output, strerror(-rc));
    }

    // Min-heap on (timestamp, input index): equal times keep the inputs' order.
    using entry = std::pair<uint64_t, size_t>;
    auto later = [](const entry& a, const entry& b) {
        const auto ta = static_cast<int64_t>(a.first), tb = static_cast<int64_t>(b.first);
        return ta != tb ? ta > tb : a.second > b.second;
    };
    std::priority_queue<entry, std::vector<entry>, decltype(later)> heap(later);
    for (size_t i = 0; i < inputs.size(); i++) {
        std::string note;
        if (inputs[i]->next(note))
            heap.push({inputs[i]->ts_ns, i});
        else if (!note.empty())
            result.notes.push_back(note);
    }
    while (!heap.empty()) {
        const size_t i = heap.top().second;
        heap.pop();
        input& in = *inputs[i];
        writer.write_record(in.ts_ns, in.len, in.data.data(), in.caplen);
        result.packets++;
        std::string note;
        if (in.next(note))
            heap.push({in.ts_ns, i});
        else if (!note.empty())
            result.notes.push_back(note);
    }
    const int rc = writer.close(0);
    close(dir_fd);
    if (rc != 0)
        return fmt::format("{}: writing failed: {}", output, strerror(-rc));
    result.output = output;
    result.files = inputs.size();
    return {};
}

int merge_main(int argc, char** argv)
{
    CLI::App app{"linecap merge: captures merged into one file in timestamp order", "linecap merge"};
    merge_request request;
    std::string format;
    app.add_option("-o,--out", request.output, "The merged file (default: merged.<ext> beside the first input)")
        ->type_name("FILE");
    app.add_option("--format", format, "pcap-ns, pcap or pcapng (default: the first input's)")
        ->check(CLI::IsMember({"pcap", "pcap-ns", "pcapng"}))
        ->type_name("FORMAT");
    app.add_option("inputs", request.inputs, "Capture files (.pcap, .pcapng, .part) or folders of them")
        ->required()
        ->type_name("FILE|DIR");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::ParseError& e) {
        std::cerr << "linecap merge: " << e.what() << "\nRun 'linecap merge --help' for the options.\n";
        return 2;
    }
    if (!format.empty())
        request.format = parse_format(format);
    merge_result result;
    if (std::string error = merge_captures(request, result); !error.empty()) {
        std::cerr << "linecap merge: " << error << "\n";
        return 1;
    }
    for (const std::string& note : result.notes)
        std::cerr << "linecap merge: note: " << note << "\n";
    std::cerr << fmt::format("linecap merge: {} packets from {} file{} into {}\n", result.packets, result.files,
                             result.files == 1 ? "" : "s", result.output);
    return 0;
}

} // namespace linecap
