#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "control/options.h"
#include "tests/support/dpdk_env.h"

using namespace linecap;

namespace {

parse_result parse(std::vector<std::string> words, engine_options& o)
{
    words.insert(words.begin(), "linecap");
    std::vector<char*> argv;
    for (auto& w : words)
        argv.push_back(w.data());
    return parse_options(static_cast<int>(argv.size()), argv.data(), o);
}

} // namespace

TEST_CASE("options parse into the struct, tcpdump's short forms included")
{
    engine_options o;
    REQUIRE(parse({"-w", "/tmp/x", "-s", "128", "-c", "500", "--duration", "2.5", "--idle-exit", "1",
                   "--format", "pcap", "--workers", "3", "--writers", "1", "--ring-size", "1024",
                   "--worker-lcores", "1,2,3", "--lossless"},
                  o) == parse_result::run);
    CHECK(o.session.output.dir == "/tmp/x");
    CHECK(o.session.output.snaplen == 128);
    CHECK(o.session.output.limits.packets == 500);
    CHECK(o.session.output.limits.seconds == 2.5);
    CHECK(o.idle_exit_s == 1);
    CHECK(o.session.output.format == file_format::pcap_us);
    CHECK(o.workers == 3);
    CHECK(o.ring_size == 1024);
    CHECK(o.worker_lcores == std::vector<unsigned>{1, 2, 3});
    CHECK(o.lossless);

    engine_options d;
    REQUIRE(parse({"--out", "/tmp/y"}, d) == parse_result::run);
    CHECK(d.session.output.format == file_format::pcap_ns);
    CHECK(d.session.output.snaplen == 0);
}

TEST_CASE("BPF runs in DPDK's checked JIT unless --bpf-interpreter; --bpf-jit is still accepted")
{
    engine_options d;
    REQUIRE(parse({"-w", "/tmp/x", "tcp"}, d) == parse_result::run);
    CHECK_FALSE(d.bpf_interpreter);
    engine_options old;
    REQUIRE(parse({"-w", "/tmp/x", "--bpf-jit", "tcp"}, old) == parse_result::run);
    CHECK_FALSE(old.bpf_interpreter);
    engine_options i;
    REQUIRE(parse({"-w", "/tmp/x", "--bpf-interpreter", "tcp"}, i) == parse_result::run);
    CHECK(i.bpf_interpreter);
    engine_options both;
    CHECK(parse({"-w", "/tmp/x", "--bpf-jit", "--bpf-interpreter", "tcp"}, both) == parse_result::exit_usage);
}

TEST_CASE("bad options are refused before anything starts")
{
    engine_options o;
    CHECK(parse({"-w", "/tmp/x", "--bogus"}, o) == parse_result::exit_usage);
    CHECK(parse({"-w"}, o) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "-s", "262145"}, o) == parse_result::exit_usage);   // above libpcap's maximum
    CHECK(parse({"-w", "/tmp/x", "-s", "-1"}, o) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "-s", "12x"}, o) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "-c", "0"}, o) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "--format", "pcapx"}, o) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "--duration", "-3"}, o) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "--burst", "8"}, o) == parse_result::exit_usage);
    CHECK(parse({"--help"}, o) == parse_result::exit_ok);
}

TEST_CASE("--idle-mode takes its four words, sleep by default, and refuses pause and monitor with -r")
{
    engine_options d;
    REQUIRE(parse({"-w", "/tmp/x"}, d) == parse_result::run);
    CHECK(d.idle == idle_mode::sleep);
    for (idle_mode mode : {idle_mode::poll, idle_mode::pause, idle_mode::monitor, idle_mode::sleep}) {
        engine_options o;
        REQUIRE(parse({"-w", "/tmp/x", "--idle-mode", std::string(idle_mode_name(mode))}, o) == parse_result::run);
        CHECK(o.idle == mode);
        engine_options daemon;   // an engine option: the daemon takes it too
        REQUIRE(parse({"--control", "/tmp/s", "--out-root", "/tmp/r", "--idle-mode", std::string(idle_mode_name(mode))},
                      daemon) == parse_result::run);
        CHECK(daemon.idle == mode);
    }
    engine_options bad;
    CHECK(parse({"-w", "/tmp/x", "--idle-mode", "busy"}, bad) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "--idle-mode", ""}, bad) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "--idle-mode", "Sleep"}, bad) == parse_result::exit_usage);
    CHECK(parse({"-w", "/tmp/x", "--idle-mode"}, bad) == parse_result::exit_usage);

    engine_options file;
    REQUIRE(parse({"-r", "/tmp/in.pcap", "-w", "/tmp/x", "--idle-mode", "pause"}, file) == parse_result::run);
    CHECK_THAT(validate_options(file), Catch::Contains("--idle-mode pause is DPDK's power management of ports' RX "
                                                       "queues, and -r reads a file"));
}

TEST_CASE("one-shot or daemon: each needs its own options and refuses the other's")
{
    engine_options o;
    REQUIRE(parse({}, o) == parse_result::run);
    CHECK_THAT(validate_options(o), Catch::Contains("--out (-w) DIR is required"));

    engine_options d;
    REQUIRE(parse({"--control", "/tmp/linecap-test.sock", "--out-root", "/tmp/linecap-root", "--max-sessions", "16"},
                  d) == parse_result::run);
    CHECK(d.daemon());
    CHECK(d.session_limit == 16);
    CHECK(validate_options(d).empty());
    CHECK(parse({"--control", "/tmp/s", "--max-sessions", "17"}, d) == parse_result::exit_usage);

    engine_options no_root;
    REQUIRE(parse({"--control", "/tmp/s"}, no_root) == parse_result::run);
    CHECK_THAT(validate_options(no_root), Catch::Contains("--control needs --out-root"));

    // The messages are asserted by tests/integration/errors.sh.
    engine_options mixed;
    CHECK(parse({"--control", "/tmp/s", "--out-root", "/tmp/r", "-c", "10"}, mixed) == parse_result::exit_usage);
    engine_options stray;
    CHECK(parse({"-w", "/tmp/linecap-x", "--max-sessions", "4"}, stray) == parse_result::exit_usage);
}

TEST_CASE("--http: a daemon option, parsed and checked before DPDK; beyond loopback only with a token")
{
    engine_options d;
    REQUIRE(parse({"--control", "/tmp/s", "--out-root", "/tmp/linecap-root", "--http", "[::1]:8080"}, d) ==
            parse_result::run);
    REQUIRE(validate_options(d).empty());
    CHECK(d.http_host == "::1");
    CHECK(d.http_port == 8080);
    CHECK(d.http_token.empty());

    engine_options open;
    REQUIRE(parse({"--control", "/tmp/s", "--out-root", "/tmp/r", "--http", "0.0.0.0:8080"}, open) == parse_result::run);
    CHECK_THAT(validate_options(open), Catch::Contains("0.0.0.0 is not a loopback address") &&
                                           Catch::Contains("--http-token-file"));

    char dir[] = "/tmp/linecap-token.XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string token_file = std::string(dir) + "/token";
    {
        std::ofstream(token_file) << "s3cret-s3cret-s3cret\n";
    }
    engine_options tokened;
    REQUIRE(parse({"--control", "/tmp/s", "--out-root", "/tmp/r", "--http", "0.0.0.0:8080", "--http-token-file",
                   token_file},
                  tokened) == parse_result::run);
    CHECK(validate_options(tokened).empty());
    CHECK(tokened.http_token == "s3cret-s3cret-s3cret");
    std::filesystem::remove_all(dir);

    engine_options bad;
    REQUIRE(parse({"--control", "/tmp/s", "--out-root", "/tmp/r", "--http", "127.0.0.1:0"}, bad) == parse_result::run);
    CHECK_THAT(validate_options(bad), Catch::StartsWith("--http 127.0.0.1:0: \"0\" is not a port"));
    engine_options alone;
    REQUIRE(parse({"--control", "/tmp/s", "--out-root", "/tmp/r", "--http-token-file", "/tmp/t"}, alone) ==
            parse_result::run);
    CHECK_THAT(validate_options(alone), Catch::Contains("give --http ADDR:PORT too"));
    engine_options oneshot;
    CHECK(parse({"-w", "/tmp/linecap-x", "--http", "127.0.0.1:8080"}, oneshot) == parse_result::exit_usage);
    engine_options empty;
    CHECK(parse({"--control", "/tmp/s", "--out-root", "/tmp/r", "--http", ""}, empty) == parse_result::exit_usage);
}

namespace {

// A self-signed certificate (CN `cn`) and its key, PEM, made in-process.
void write_self_signed(const std::string& cert_path, const std::string& key_path, const char* cn)
{
    EVP_PKEY* key = EVP_EC_gen("P-256");
    REQUIRE(key != nullptr);
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(x, name);
    REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
    std::FILE* f = std::fopen(cert_path.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(key_path.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

} // namespace

TEST_CASE("--http-cert, --http-key, --http-client-ca: in pairs, matching, and client certificates count as authentication")
{
    char dir[] = "/tmp/linecap-tls.XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string d(dir);
    write_self_signed(d + "/server.pem", d + "/server.key", "127.0.0.1");
    write_self_signed(d + "/ca.pem", d + "/ca.key", "linecap test CA");
    const std::vector<std::string> daemon{"--control", "/tmp/s", "--out-root", "/tmp/r"};
    const auto check = [&](std::vector<std::string> words) {
        words.insert(words.begin(), daemon.begin(), daemon.end());
        engine_options o;
        REQUIRE(parse(words, o) == parse_result::run);
        return validate_options(o);
    };
    const std::string cert = d + "/server.pem", key = d + "/server.key", ca = d + "/ca.pem";
    // Loopback with HTTPS, and with client certificates.
    CHECK(check({"--http", "127.0.0.1:8443", "--http-cert", cert, "--http-key", key}).empty());
    CHECK(check({"--http", "127.0.0.1:8443", "--http-cert", cert, "--http-key", key, "--http-client-ca", ca}).empty());
    // Off loopback: client certificates are enough; TLS alone is not.
    CHECK(check({"--http", "0.0.0.0:8443", "--http-cert", cert, "--http-key", key, "--http-client-ca", ca}).empty());
    CHECK_THAT(check({"--http", "0.0.0.0:8443", "--http-cert", cert, "--http-key", key}),
               Catch::StartsWith("--http 0.0.0.0:8443: 0.0.0.0 is not a loopback address") &&
                   Catch::Contains("--http-token-file FILE (a bearer token) or --http-client-ca FILE"));
    // Halves of a pair, a key of another certificate, a client CA alone, no --http.
    CHECK_THAT(check({"--http", "127.0.0.1:8443", "--http-cert", cert}), Catch::StartsWith("--http-cert " + cert + " needs its private key"));
    CHECK_THAT(check({"--http", "127.0.0.1:8443", "--http-key", key}), Catch::Contains("give --http-cert FILE too"));
    CHECK_THAT(check({"--http", "127.0.0.1:8443", "--http-client-ca", ca}),
               Catch::StartsWith("--http-client-ca " + ca + " asks HTTPS clients for a certificate"));
    CHECK_THAT(check({"--http", "127.0.0.1:8443", "--http-cert", cert, "--http-key", d + "/ca.key"}),
               Catch::StartsWith("--http-key " + d + "/ca.key is not the key of --http-cert " + cert));
    CHECK_THAT(check({"--http-cert", cert, "--http-key", key}), Catch::StartsWith("--http-cert is for the HTTP API's HTTPS"));
    std::filesystem::remove_all(d);
}

TEST_CASE("-r FILE: repeatable, one file per -r, the expression after it; one-shot only")
{
    engine_options o;
    REQUIRE(parse({"-r", "a.pcap", "-w", "/tmp/x", "-r", "b.pcapng", "tcp", "port", "80"}, o) == parse_result::run);
    CHECK(o.read_files == std::vector<std::string>{"a.pcap", "b.pcapng"});
    CHECK(o.session.bpf == "tcp port 80");

    engine_options long_form;
    REQUIRE(parse({"--read", "a.pcap", "-w", "/tmp/x"}, long_form) == parse_result::run);
    CHECK(long_form.read_files == std::vector<std::string>{"a.pcap"});

    engine_options missing;
    CHECK(parse({"-w", "/tmp/x", "-r"}, missing) == parse_result::exit_usage);

    engine_options daemon;
    CHECK(parse({"--control", "/tmp/s", "--out-root", "/tmp/r", "-r", "a.pcap"}, daemon) == parse_result::exit_usage);
}

TEST_CASE("-w FILE.pcap and FILE.pcapng: a file prefix in FILE's folder, the format from the suffix")
{
    engine_options pcap;
    REQUIRE(parse({"-w", "/tmp/caps/sub-42.pcap"}, pcap) == parse_result::run);
    CHECK(pcap.session.output.dir == "/tmp/caps");
    CHECK(pcap.session.output.name == "sub-42");
    CHECK(pcap.session.output.format == file_format::pcap_ns);

    engine_options here;
    REQUIRE(parse({"-w", "ring.pcapng", "--format", "pcapng"}, here) == parse_result::run);
    CHECK(here.session.output.dir == ".");
    CHECK(here.session.output.name == "ring");
    CHECK(here.session.output.format == file_format::pcapng);

    engine_options folder;
    REQUIRE(parse({"-w", "/tmp/caps/out"}, folder) == parse_result::run);
    CHECK(folder.session.output.dir == "/tmp/caps/out");
    CHECK(folder.session.output.name == "capture");

    engine_options conflict;
    CHECK(parse({"-w", "x.pcap", "--format", "pcapng"}, conflict) == parse_result::exit_usage);
    CHECK(parse({"-w", "x.pcapng", "--format", "pcap-ns"}, conflict) == parse_result::exit_usage);
    CHECK(parse({"-w", "x.pcap", "--name", "y"}, conflict) == parse_result::exit_usage);
    CHECK(parse({"-w", "a b.pcap"}, conflict) == parse_result::exit_usage);
}

TEST_CASE("linecap's options among EAL's: the command to type instead")
{
    CHECK(misplaced_options({"--no-huge", "-m", "512"}, {"-w", "out"}, true) == "");
    CHECK(misplaced_options({"-l", "0-1", "-s", "0x2", "-c", "3"}, {}, false) == "");   // EAL's own -s and -c
    CHECK(misplaced_options({"-w", "out", "--no-huge", "-m", "512"}, {"-s", "64"}, true) ==
          "-w is an option of linecap's, given before '--' where EAL's options go; linecap's come after '--': "
          "linecap --no-huge -m 512 -- -w out -s 64");
    // With one of linecap's for sure, -s and -c are linecap's too; without
    // "--", the expression at the end is.
    CHECK(misplaced_options({"--no-huge", "-i", "eth0", "-s", "128", "-w", "o.pcap", "host", "10.0.0.1"}, {}, false) ==
          "-i is an option of linecap's, given before '--' where EAL's options go; linecap's come after '--': "
          "linecap --no-huge -- -i eth0 -s 128 -w o.pcap host 10.0.0.1");
    CHECK(misplaced_options({"--idle-exit=1", "--vdev", "net_null0"}, {"-w", "it's"}, true) ==
          "--idle-exit is an option of linecap's, given before '--' where EAL's options go; linecap's come after "
          "'--': linecap --vdev net_null0 -- --idle-exit=1 -w 'it'\\''s'");
    // EAL's options after linecap's: the expression still moves, an EAL
    // option's value stays (found by review: "host 10.0.0.1" stayed before
    // "--", where EAL ignores it, and the capture ran unfiltered).
    CHECK(misplaced_options({"-w", "o3", "-m", "512", "host", "10.0.0.1"}, {}, false) ==
          "-w is an option of linecap's, given before '--' where EAL's options go; linecap's come after '--': "
          "linecap -m 512 -- -w o3 host 10.0.0.1");
    CHECK(misplaced_options({"--no-huge", "-m", "512", "-w", "o3", "--snaplen", "96", "--no-pci", "tcp"}, {}, false) ==
          "-w is an option of linecap's, given before '--' where EAL's options go; linecap's come after '--': "
          "linecap --no-huge -m 512 --no-pci -- -w o3 --snaplen 96 tcp");
    CHECK(misplaced_options({"-w", "o3", "--file-prefix", "p1"}, {}, false) ==
          "-w is an option of linecap's, given before '--' where EAL's options go; linecap's come after '--': "
          "linecap --file-prefix p1 -- -w o3");
}

TEST_CASE("validation: ring size, lcore lists, the output folder")
{
    const std::string base = test::temp_dir();
    engine_options o;
    o.session.output.dir = base + "/new/nested";
    CHECK(validate_options(o).empty());
    CHECK(std::filesystem::is_directory(base + "/new/nested"));

    o.ring_size = 1000;   // any size: the ring is created with RING_F_EXACT_SZ
    CHECK(validate_options(o).empty());

    o.workers = 2;
    o.worker_lcores = {1};
    CHECK_THAT(validate_options(o), Catch::Contains("--workers 2 disagrees with --worker-lcores"));
    o.workers = 0;

    const std::string file = base + "/plain";
    fclose(fopen(file.c_str(), "w"));
    o.session.output.dir = file;
    CHECK_THAT(validate_options(o), Catch::Contains("cannot create the folder"));

    o.session.output.dir = file + "/below";
    CHECK_THAT(validate_options(o), Catch::Contains("--out " + file + "/below"));
}
