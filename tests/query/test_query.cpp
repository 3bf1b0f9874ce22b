// run_query's notes on files without an index: a file of a running ring
// that its keep deletes, or a rotation renames, after the query opened it
// is read whole from its open descriptor, with no note that it has no
// index (nor the advice to make one of a file gone); one still there is
// named.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "query/query.h"
#include "writers/capture_index.h"

using namespace linecap;
namespace fs = std::filesystem;

namespace {

// A pcap file of `packets` UDP packets from 10.0.0.1, a second apart from `t0`.
void write_pcap(const fs::path& path, uint32_t t0, int packets)
{
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    const uint32_t header[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
    std::fwrite(header, sizeof header, 1, f);
    uint8_t frame[42] = {};
    frame[12] = 0x08;
    frame[14] = 0x45;
    frame[17] = 28;
    frame[22] = 64;
    frame[23] = 17;
    const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
    std::memcpy(frame + 26, src, 4);
    std::memcpy(frame + 30, dst, 4);
    for (int i = 0; i < packets; i++) {
        const uint32_t record[4] = {t0 + static_cast<uint32_t>(i), 0, sizeof frame, sizeof frame};
        std::fwrite(record, sizeof record, 1, f);
        std::fwrite(frame, sizeof frame, 1, f);
    }
    std::fclose(f);
}

std::string joined(const std::vector<std::string>& notes)
{
    std::string all;
    for (const std::string& n : notes)
        all += n + "\n";
    return all;
}

} // namespace

TEST_CASE("query: no index note for a file gone since opened")
{
    const fs::path dir = fs::temp_directory_path() / fmt::format("linecap-query-{}", getpid());
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path first = dir / "r-w0-000001-20231114T221320Z.pcap";
    const fs::path second = dir / "r-w0-000002-20231114T221330Z.pcap";
    write_pcap(first, 1700000000, 5);
    write_pcap(second, 1700000010, 7);

    query_request request;
    request.merge.inputs = {dir.string()};
    request.merge.output = (fs::temp_directory_path() / fmt::format("linecap-query-{}.pcap", getpid())).string();
    request.merge.force = true;
    request.expression = "udp";
    query_result result;

    SECTION("both there: one note names both")
    {
        REQUIRE(run_query(request, result) == "");
        CHECK(result.merge.packets == 12);
        CHECK(joined(result.merge.notes).find("2 files have no index") != std::string::npos);
    }
    SECTION("one deleted (keep), one renamed (rotation): no note")
    {
        request.merge.on_opened = [&] {
            fs::remove(second);
            fs::rename(first, dir / "moved.pcap");
        };
        REQUIRE(run_query(request, result) == "");
        CHECK(result.merge.packets == 12);   // read from the open descriptors
        const std::string notes = joined(result.merge.notes);
        CAPTURE(notes);
        CHECK(notes.find("no index") == std::string::npos);
    }
    SECTION("one deleted: the other is named")
    {
        request.merge.on_opened = [&] { fs::remove(second); };
        REQUIRE(run_query(request, result) == "");
        CHECK(result.merge.packets == 12);
        const std::string notes = joined(result.merge.notes);
        CAPTURE(notes);
        CHECK(notes.find(first.string() + ": no index") != std::string::npos);
        CHECK(notes.find(second.string()) == std::string::npos);
    }
    SECTION("a .part file: no advice to run linecap index, which refuses it")
    {
        const fs::path part = dir / "r-w0-000003-20231114T221340Z.pcap.part";
        write_pcap(part, 1700000020, 3);
        REQUIRE(run_query(request, result) == "");
        CHECK(result.merge.packets == 15);
        const std::string notes = joined(result.merge.notes);
        CAPTURE(notes);
        CHECK(notes.find(part.string() + ": no index (" + (dir / "r-w0-000003-20231114T221340Z.pcap.idx.part").string() +
                         "): read whole (a file being written is indexed by its writer, if its session indexes)") !=
              std::string::npos);
        CHECK(notes.find("linecap index " + part.string()) == std::string::npos);
        CHECK(notes.find("2 files have no index") != std::string::npos);
    }
    SECTION("a .part cut inside its header, beside its index: said to be shorter than the header")
    {
        // What a damaged disk or a hand's truncate leaves (a .part is read
        // as far as it goes: its writer may have only begun it); the note
        // about its index says why it does not fit, not that it is
        // another file's.
        const fs::path part = dir / "r-w0-000003-20231114T221340Z.pcap.part";
        const fs::path index_path = dir / "r-w0-000003-20231114T221340Z.pcap.idx.part";
        write_pcap(part, 1700000020, 3);
        index_build_result built;
        REQUIRE(index_capture_file(part.string(), index_path.string(), 1 << 20, built) == "");
        fs::resize_file(part, 10);
        REQUIRE(run_query(request, result) == "");
        CHECK(result.merge.packets == 12);
        const std::string notes = joined(result.merge.notes);
        CAPTURE(notes);
        CHECK(notes.find(part.string() + ": shorter (10 bytes) than the header its index " + index_path.string() +
                         " describes (24 bytes): read whole") != std::string::npos);
        CHECK(notes.find("another file's") == std::string::npos);
    }
    fs::remove_all(dir);
    fs::remove(request.merge.output);
}
