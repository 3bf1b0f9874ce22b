// The daemon's background jobs: a merge runs off the loop and is handed back
// once, with its result; a session being merged says so until it is reaped;
// a deleted tree is gone once its job is reaped.
#include <catch2/catch.hpp>

#include <pcap/pcap.h>

#include <filesystem>

#include "control/jobs.h"
#include "tests/support/dpdk_env.h"

using namespace linecap;

namespace {

void write_capture(const std::string& path, int packets, long first_sec)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    REQUIRE(dumper != nullptr);
    const u_char packet[60] = {};
    for (int i = 0; i < packets; i++) {
        pcap_pkthdr h{};
        h.ts.tv_sec = first_sec + 2 * i;
        h.len = h.caplen = sizeof packet;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &h, packet);
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

} // namespace

TEST_CASE("background_jobs: a merge is handed back once, with its result; delete removes the tree")
{
    namespace fs = std::filesystem;
    const std::string dir = test::temp_dir();
    write_capture(dir + "/a.pcap", 3, 100);
    write_capture(dir + "/b.pcap", 4, 101);
    fs::create_directories(dir + "/trash/x/y");

    std::vector<finished_merge> merged;
    {
        background_jobs jobs;
        merge_request request;
        request.inputs = {dir + "/a.pcap", dir + "/b.pcap"};
        request.output = dir + "/merged.pcap";
        jobs.merge(7, "12", request);
        jobs.remove_tree(dir + "/trash");
        CHECK(jobs.merging("12"));
        CHECK_FALSE(jobs.merging("13"));
        jobs.reap(true, [&](const finished_merge& m) { merged.push_back(m); });
        CHECK_FALSE(jobs.merging("12"));
        jobs.reap(true, [&](const finished_merge& m) { merged.push_back(m); });   // nothing left
    }
    REQUIRE(merged.size() == 1);
    CHECK(merged[0].client == 7);
    CHECK(merged[0].id == "12");
    CHECK(merged[0].error == "");
    CHECK(merged[0].result.packets == 7);
    CHECK(merged[0].result.files == 2);
    CHECK(merged[0].result.output == dir + "/merged.pcap");
    CHECK_FALSE(fs::exists(dir + "/trash"));

    SECTION("a merge that fails is handed back with its error")
    {
        background_jobs jobs;
        merge_request request;
        request.inputs = {dir + "/missing.pcap"};
        request.output = dir + "/merged-2.pcap";
        jobs.merge(9, "14", request);
        std::vector<finished_merge> failed;
        jobs.reap(true, [&](const finished_merge& m) { failed.push_back(m); });
        REQUIRE(failed.size() == 1);
        CHECK(failed[0].client == 9);
        CHECK_THAT(failed[0].error, Catch::Contains("missing.pcap"));
    }
    fs::remove_all(dir);
}
