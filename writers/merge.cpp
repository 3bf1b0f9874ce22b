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

#include "writers/capture_reader.h"
#include "writers/capture_writer.h"

namespace linecap {

namespace {

namespace fs = std::filesystem;

std::string linktype_text(int linktype)
{
    const char* name = pcap_datalink_val_to_name(linktype);
    return name != nullptr ? name : fmt::format("{}", linktype);
}

std::optional<file_format> format_of(const std::string& path)
{
    FILE* f = fopen(path.c_str(), "rb");
    uint8_t head[sizeof(pcap_file_header)];
    const size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    const std::optional<capture_header> header = read_capture_header(head, n);
    return header ? std::optional(header->format) : std::nullopt;
}

// One input of the k-way merge: its reader and its pending record, copied
// out of the reader's buffer (which the next read reuses).
struct input {
    capture_reader reader;
    capture_record record;
    std::vector<uint8_t> data;

    // Loads the next record; false at the end or at an error (the reader says which).
    bool next()
    {
        if (reader.next(record) != read_status::record)
            return false;
        data.assign(record.data, record.data + record.caplen);
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
                if (entry.is_regular_file() && is_capture_file_name(entry.path().filename().string()))
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
        const bool partial = path.ends_with(".part");
        std::error_code size_ec;
        if (partial && fs::file_size(path, size_ec) == 0 && !size_ec) {
            result.notes.push_back(fmt::format("{}: empty (the capture stopped as it created it); skipped", path));
            continue;
        }
        auto in = std::make_unique<input>();
        if (std::string error = in->reader.open(path, partial); !error.empty())
            return error;
        const int dlt = in->reader.linktype();
        if (dlt == -1) {   // a .part cut inside its header: nothing to merge
            result.notes.push_back(in->reader.note());
            continue;
        }
        if (linktype == -1)
            linktype = dlt;
        else if (dlt != linktype)
            return fmt::format("{}: link type {} differs from the first input's {}; merge files of one kind",
                               path, linktype_text(dlt), linktype_text(linktype));
        inputs.push_back(std::move(in));
    }
    if (inputs.empty())
        return "every input is an empty .part file: nothing to merge";
    // The two link types linecap writes: Ethernet, and raw IP ("decap": "ip").
    if (linktype != DLT_EN10MB && linktype != DLT_RAW)
        return fmt::format("{}: link type {} is neither Ethernet nor raw IP; linecap writes those two",
                           paths.front(), linktype_text(linktype));

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
    auto later = [](const entry& a, const entry& b) { return a.first != b.first ? a.first > b.first : a.second > b.second; };
    std::priority_queue<entry, std::vector<entry>, decltype(later)> heap(later);
    std::vector<std::string> unreadable;   // finished inputs that could not be read to their end
    // An input that ended: how (a partial file's torn tail is a note; a
    // finished file that stops early, or a record of another link type, is
    // an error).
    auto ended = [&](input& in) {
        if (!in.reader.error().empty())
            unreadable.push_back(in.reader.error());
        else if (!in.reader.note().empty())
            result.notes.push_back(in.reader.note());
        if (in.reader.repaired() != 0)
            result.notes.push_back(fmt::format("{}: {} record{} a captured length above the original length; "
                                               "written with the original length raised to match",
                                               in.reader.path(), in.reader.repaired(),
                                               in.reader.repaired() == 1 ? " has" : "s have"));
    };
    auto advance = [&](size_t i) {
        input& in = *inputs[i];
        if (!in.next()) {
            ended(in);
        } else if (in.record.linktype != linktype) {
            unreadable.push_back(fmt::format("{}: record {} is link type {}, not {} like the rest",
                                             in.reader.path(), in.reader.packets(), linktype_text(in.record.linktype),
                                             linktype_text(linktype)));
        } else {
            heap.push({in.record.ts_ns, i});
        }
    };
    for (size_t i = 0; i < inputs.size(); i++)
        advance(i);
    while (!heap.empty()) {
        const size_t i = heap.top().second;
        heap.pop();
        input& in = *inputs[i];
        writer.write_record(in.record.ts_ns, in.record.len, in.data.data(), in.record.caplen);
        result.packets++;
        advance(i);
    }
    const int rc = writer.close(0);
    close(dir_fd);
    if (rc != 0)
        return fmt::format("{}: writing failed: {}", output, strerror(-rc));
    result.output = output;
    result.files = inputs.size();
    if (!unreadable.empty()) {
        std::string error;
        for (const std::string& e : unreadable)
            error += e + "; ";
        return error + fmt::format("merged what could be read ({} packets) into {}: it is incomplete",
                                   result.packets, output);
    }
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
    const std::string error = merge_captures(request, result);
    for (const std::string& note : result.notes)
        std::cerr << "linecap merge: note: " << note << "\n";
    if (!error.empty()) {
        std::cerr << "linecap merge: " << error << "\n";
        return 1;
    }
    std::cerr << fmt::format("linecap merge: {} packets from {} file{} into {}\n", result.packets, result.files,
                             result.files == 1 ? "" : "s", result.output);
    return 0;
}

} // namespace linecap
