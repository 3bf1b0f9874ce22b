// Catch2's own implementation (its runner, reporters, matchers) and the call
// that runs the tests: unit_main.cpp's main() starts EAL first, then calls
// run_catch. A file of its own so that the sanitizer tree can build it
// uninstrumented (tests/meson.build).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

namespace linecap::test {

int run_catch(int argc, char** argv)
{
    return Catch::Session().run(argc, argv);
}

} // namespace linecap::test
