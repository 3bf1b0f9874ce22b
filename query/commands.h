// The command lines of linecap's offline tools, `linecap index`, `linecap
// merge` and `linecap query` (docs/query.md): each parses its argv (argv[0]
// is the tool's name), runs, and prints a summary or one error per fault.
// One file, away from the code they run: CLI11 is a header-only library
// that costs each file including it seconds of compile time.
#pragma once

namespace linecap {

// `linecap index FILE|DIR...`: indexes the files on every CPU at once,
// prints a summary or one error per file, in the order given. Returns the
// exit status: 0, or 1 when a file could not be indexed.
int index_main(int argc, char** argv);

// `linecap merge ...`: merges. Returns the exit status: 0, 1 (a failure
// while reading or writing), 2 (the command line).
int merge_main(int argc, char** argv);

// `linecap query ...`: queries. Returns the exit status: 0, 1 (a failure
// while reading or writing), 2 (the command line).
int query_main(int argc, char** argv);

} // namespace linecap
