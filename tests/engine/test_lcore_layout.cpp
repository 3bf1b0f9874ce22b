#include <catch2/catch.hpp>

#include "engine/lcore_layout.h"

using namespace linecap;

namespace {

lcore_layout plan(const engine_config& o, std::vector<unsigned> enabled, std::string* error = nullptr)
{
    lcore_layout layout;
    std::string e = plan_lcores(o, enabled, layout);
    if (error)
        *error = e;
    else
        REQUIRE(e.empty());
    return layout;
}

using v = std::vector<unsigned>;

} // namespace

TEST_CASE("default layouts: writers take the main lcore, workers the rest")
{
    engine_config o;
    auto two = plan(o, {0, 1});
    CHECK(two.writers == v{0});
    CHECK(two.workers == v{1});

    auto four = plan(o, {0, 1, 2, 3});
    CHECK(four.writers == v{0});
    CHECK(four.workers == v{1, 2, 3});

    auto eight = plan(o, {0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(eight.writers == v{0, 7});
    CHECK(eight.workers == v{1, 2, 3, 4, 5, 6});

    // The main lcore need not be the lowest.
    auto other_main = plan(o, {3, 1, 2});
    CHECK(other_main.writers == v{3});
    CHECK(other_main.workers == v{1, 2});
}

TEST_CASE("counts and explicit lists")
{
    engine_config o;
    o.workers = 2;
    o.writers = 2;
    auto l = plan(o, {0, 1, 2, 3});
    CHECK(l.writers == v{0, 3});
    CHECK(l.workers == v{1, 2});

    engine_config lists;
    lists.worker_lcores = {2, 3};
    lists.writer_lcores = {1};
    auto e = plan(lists, {0, 1, 2, 3});
    CHECK(e.workers == v{2, 3});
    CHECK(e.writers == v{1});

    engine_config only_workers;
    only_workers.worker_lcores = {1};
    auto w = plan(only_workers, {0, 1, 2});
    CHECK(w.workers == v{1});
    CHECK(w.writers == v{0});

    // Fewer workers than lcores: the rest stay idle.
    engine_config fewer;
    fewer.workers = 1;
    auto f = plan(fewer, {0, 1, 2, 3});
    CHECK(f.workers == v{1});
    CHECK(f.writers == v{0});
}

TEST_CASE("impossible layouts say what to change")
{
    std::string error;
    engine_config o;
    plan(o, {0}, &error);
    CHECK_THAT(error, Catch::Contains("need 2 lcores") && Catch::Contains("-l 0-1"));

    engine_config many;
    many.workers = 3;
    plan(many, {0, 1, 2}, &error);
    CHECK_THAT(error, Catch::Contains("need 4 lcores (3 workers + 1 writer)"));

    engine_config missing;
    missing.worker_lcores = {5};
    plan(missing, {0, 1}, &error);
    CHECK_THAT(error, Catch::Contains("--worker-lcores: lcore 5 is not enabled"));

    engine_config twice;
    twice.worker_lcores = {1};
    twice.writer_lcores = {1};
    plan(twice, {0, 1}, &error);
    CHECK_THAT(error, Catch::Contains("lcore 1 is in both"));

    engine_config dup;
    dup.writer_lcores = {0, 0};
    plan(dup, {0, 1}, &error);
    CHECK_THAT(error, Catch::Contains("listed twice"));
}
