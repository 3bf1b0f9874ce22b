// The query's and merge's fields (core/query_fields.h): one parse for every
// entry point, so each mistake reads the same whether the field is an
// option (linecap query, linecapctl) or a request field (socket, HTTP).
#include <catch2/catch.hpp>

#include <string>

#include "core/query_fields.h"

using namespace linecap;

namespace {

constexpr uint64_t now_ns = 1700000000ull * 1000000000ull;   // 2023-11-14T22:13:20Z

std::string error_of(const query_field_texts& given, field_spelling spelling)
{
    query_fields out;
    return parse_query_fields(given, spelling, now_ns, out);
}

} // namespace

TEST_CASE("query fields: an empty value is refused, naming the field and what to type")
{
    struct empty_case {
        query_field_texts given;
        const char* option_error;
    };
    const empty_case cases[] = {
        {{.since = ""}, "--since: empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave "
                        "--since out for no bound"},
        {{.until = ""}, "--until: empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave "
                        "--until out for no bound"},
        {{.format = ""}, "--format: empty: give pcap, pcap-ns or pcapng, or leave --format out for the capture's own"},
        {{.inner_host = ""}, "--inner-host: empty: give an address (10.4.2.50), a prefix (10.4.2.0/24) or a range "
                             "(10.4.2.1-10.4.2.9), or leave --inner-host out for no tunnel term"},
        {{.vni = ""}, "--vni: empty: give a tunnel id (a whole number from 0 to 4294967295), or leave --vni out for "
                      "no tunnel term"},
    };
    for (const empty_case& c : cases) {
        CHECK(error_of(c.given, field_spelling::option) == c.option_error);
        // The request's words are the same, the field named as a request names it.
        std::string request_error = c.option_error;
        for (const auto& [option, field] : {std::pair<std::string, std::string>{"--since", "\"since\""},
                                            {"--until", "\"until\""}, {"--format", "\"format\""},
                                            {"--inner-host", "\"inner_host\""}, {"--vni", "\"vni\""}})
            for (size_t at; (at = request_error.find(option)) != std::string::npos;)
                request_error.replace(at, option.size(), field);
        CHECK(error_of(c.given, field_spelling::request) == request_error);
    }
}

TEST_CASE("query fields: values parse, bad ones are refused in one set of words")
{
    query_fields out;
    REQUIRE(parse_query_fields({.since = "2023-11-14T22:13:00Z", .until = "-5s", .format = "pcapng",
                                .inner_host = "10.4.2.0/24", .vni = "4294967295"},
                               field_spelling::option, now_ns, out)
                .empty());
    CHECK(out.since_ns == 1699999980ull * 1000000000ull);
    CHECK(out.until_ns == now_ns - 5000000000ull);
    CHECK(out.format == file_format::pcapng);
    REQUIRE(out.inner_host.has_value());
    CHECK(out.inner_host->family == 4);
    CHECK(out.vni == 4294967295u);
    // Not given: no bound, no format, no tunnel term.
    query_fields none;
    REQUIRE(parse_query_fields({}, field_spelling::request, now_ns, none).empty());
    CHECK(none.since_ns == 0);
    CHECK(none.until_ns == UINT64_MAX);
    CHECK_FALSE(none.format.has_value());
    CHECK_FALSE(none.inner_host.has_value());
    CHECK_FALSE(none.vni.has_value());

    CHECK(error_of({.format = "xyz"}, field_spelling::option) == "--format: \"xyz\" is not a format (pcap, pcap-ns, pcapng)");
    CHECK(error_of({.format = "xyz"}, field_spelling::request) ==
          "\"format\": \"xyz\" is not a format (pcap, pcap-ns, pcapng)");
    CHECK(error_of({.since = "2023-11-14T22:14:00Z", .until = "2023-11-14T22:13:00Z"}, field_spelling::option) ==
          "--since 2023-11-14T22:14:00Z is after --until 2023-11-14T22:13:00Z: no packet can be in between");
    CHECK(error_of({.since = "2023-11-14T22:14:00Z", .until = "2023-11-14T22:13:00Z"}, field_spelling::request) ==
          "\"since\" 2023-11-14T22:14:00Z is after \"until\" 2023-11-14T22:13:00Z: no packet can be in between");
    CHECK(error_of({.inner_host = "300.1.1.1"}, field_spelling::option) ==
          "--inner-host: 300.1.1.1 is not an IPv4 or IPv6 address, prefix or range");
    CHECK(error_of({.inner_host = "10.0.0.1 "}, field_spelling::option) ==   // a space that would not show
          "--inner-host: \"10.0.0.1 \" is not an IPv4 or IPv6 address, prefix or range");
    CHECK(error_of({.vni = "x"}, field_spelling::request) ==
          "\"vni\": \"x\" is not a tunnel id: a whole number from 0 to 4294967295 (a VXLAN or GENEVE VNI, a GRE key, "
          "an ERSPAN session id)");
    // An offset's '+' read as a space from a URL: the request is told to
    // send %2B; an option, whose '+' no URL took, is not.
    CHECK_THAT(error_of({.until = "2023-11-14T23:13:20 01:00"}, field_spelling::request),
               Catch::StartsWith("\"until\" 2023-11-14T23:13:20 01:00: not a UTC time") &&
                   Catch::EndsWith("(in a URL a '+' is read as a space: send it as %2B, 2026-11-29T19:53:45%2B01:00, as "
                                   "curl --data-urlencode does)"));
    CHECK_THAT(error_of({.until = "2023-11-14T23:13:20 01:00"}, field_spelling::option),
               !Catch::Contains("%2B"));
    CHECK_THAT(error_of({.since = "yesterday"}, field_spelling::request), !Catch::Contains("%2B"));
}
