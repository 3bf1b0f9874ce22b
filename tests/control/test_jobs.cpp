// The daemon's background jobs: a merge runs off the loop and is handed back
// once, with its result; a session being merged says so until it is reaped;
// a deleted tree is gone once its job is reaped; a run() is done off the
// reaping thread and its `then` called on it, once.
#include <catch2/catch.hpp>

#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <sched.h>

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
        query_request request;
        request.merge.inputs = {dir + "/a.pcap", dir + "/b.pcap"};
        request.merge.output = dir + "/merged.pcap";
        jobs.merge(7, "12", request, false);
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
    CHECK_FALSE(merged[0].query);
    CHECK(merged[0].result.merge.packets == 7);
    CHECK(merged[0].result.merge.files == 2);
    CHECK(merged[0].result.merge.output == dir + "/merged.pcap");
    CHECK_FALSE(fs::exists(dir + "/trash"));

    SECTION("a merge that fails is handed back with its error")
    {
        background_jobs jobs;
        query_request request;
        request.merge.inputs = {dir + "/missing.pcap"};
        request.merge.output = dir + "/merged-2.pcap";
        jobs.merge(9, "14", request, false);
        std::vector<finished_merge> failed;
        jobs.reap(true, [&](const finished_merge& m) { failed.push_back(m); });
        REQUIRE(failed.size() == 1);
        CHECK(failed[0].client == 9);
        CHECK_THAT(failed[0].error, Catch::Contains("missing.pcap"));
    }

    SECTION("a query keeps what its expression selects, paced, on a thread that yields to the others")
    {
        background_jobs jobs;
        query_request request;
        request.merge.inputs = {dir + "/a.pcap", dir + "/b.pcap"};
        request.merge.output = dir + "/queried.pcap";
        request.merge.since_ns = 101'000'000'000ull;   // b's first packet on
        request.merge.read_rate = 1;                   // 1 byte a second: paced per MiB, so no wait here
        request.expression = "len >= 60";
        int policy = -1;
        jobs.merge(3, "15", request, true, [&](const std::string&, bool) { policy = sched_getscheduler(0); });
        std::vector<finished_merge> queried;
        jobs.reap(true, [&](const finished_merge& m) { queried.push_back(m); });
        REQUIRE(queried.size() == 1);
        CHECK(queried[0].query);
        CHECK(queried[0].error == "");
        CHECK(queried[0].result.merge.packets == 6);   // a's 102 and 104, and b's four
        CHECK(queried[0].result.capture_bytes == 2 * 24 + 7 * (16 + 60));
        CHECK(policy == SCHED_IDLE);   // lowered once its files were open
    }
    fs::remove_all(dir);
}

TEST_CASE("background_jobs: run() does its work on a thread of its own, then hands `then` to the reaper, once")
{
    background_jobs jobs;
    std::atomic<bool> release = false;
    std::thread::id worked_on, then_on;
    int thens = 0;
    jobs.run(
        [&] {
            worked_on = std::this_thread::get_id();
            while (!release)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        },
        [&] {
            then_on = std::this_thread::get_id();
            thens++;
        });
    const auto ignore = [](const finished_merge&) { FAIL("run() is no merge"); };
    jobs.reap(false, ignore);   // still working: not reaped
    CHECK(thens == 0);
    release = true;
    jobs.reap(true, ignore);
    CHECK(thens == 1);
    CHECK(worked_on != std::this_thread::get_id());
    CHECK(then_on == std::this_thread::get_id());
    jobs.reap(true, ignore);   // nothing left
    CHECK(thens == 1);
}

TEST_CASE("background_jobs: abandon_runs() leaves a run still working to finish alone, its `then` never called")
{
    auto release = std::make_shared<std::atomic<bool>>(false);
    auto finished = std::make_shared<std::atomic<bool>>(false);
    int thens = 0;
    {
        background_jobs jobs;
        jobs.run(
            [release, finished] {   // owns all it touches, as abandon_runs asks
                while (!*release)
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                *finished = true;
            },
            [&] { thens++; });
        auto second_done = std::make_shared<std::atomic<bool>>(false);
        jobs.run([second_done] { *second_done = true; }, [&] { thens++; });
        // The second is done, not reaped (waited for, however slow the
        // machine; then a moment for its thread, which runs at the idle
        // priority, to say so to the jobs).
        for (int i = 0; i < 60000 && !*second_done; i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        REQUIRE(*second_done);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        CHECK(jobs.abandon_runs() == 1);
        jobs.reap(true, [](const finished_merge&) {});   // waits for nothing abandoned
        CHECK(thens == 1);
    }   // the jobs are gone; the abandoned thread is not
    CHECK_FALSE(*finished);
    *release = true;
    for (int i = 0; i < 60000 && !*finished; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(*finished);
    CHECK(thens == 1);
}
