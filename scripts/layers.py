#!/usr/bin/env python3
"""linecap's layers: which folder's code may include which folder's headers.

    LAYERS below is the one table. docs/architecture.md draws it.

    layers.py view BUILD_DIR LAYER
        Makes BUILD_DIR/layers/LAYER/: one symbolic link per folder LAYER may
        include (itself and the folders below it) and nothing else. LAYER's
        library compiles with that view as its only include directory, so an
        include that goes the wrong way fails to build ("No such file").
        Prints the view's path.

    layers.py check [ROOT]
        Reads every .h and .cpp of the layered folders under ROOT (default:
        the tree this script is in) and prints, as FILE:LINE: what, every
        #include "folder/file.h" of a folder not below the file's own, and
        every include that climbs out with "..". Exit status 1 if any.
        Covers what no library compiles: headers only tests include, and
        linecapctl.

    layers.py self-test
        Builds a small tree with one include of each wrong kind and checks
        that `check` reports each one and nothing else.

Folders outside the table (tests, bench, the executables' own files) are
above everything and may include any folder.
"""

import os
import re
import sys
import tempfile

# folder: the folders below it, which it may include. filters and writers
# sit side by side on the floor and never include each other.
LAYERS = {
    'core': [],
    'filters': ['core'],
    'writers': ['core'],
    'query': ['core', 'filters', 'writers'],
    'engine': ['core', 'filters', 'writers'],
    'fleet': ['core'],
    'control': ['core', 'filters', 'writers', 'query', 'engine', 'fleet'],
}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def view(build_dir, layer):
    if layer not in LAYERS:
        sys.exit(f'layers.py: no layer "{layer}" (layers: {", ".join(LAYERS)})')
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(build_dir, 'layers', layer)
    os.makedirs(path, exist_ok=True)
    allowed = [layer] + LAYERS[layer]
    for entry in os.listdir(path):   # a folder dropped from the table
        if entry not in allowed:
            os.remove(os.path.join(path, entry))
    for folder in allowed:
        link = os.path.join(path, folder)
        target = os.path.join(source_root, folder)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)
    print(path)


def wrong_includes(root):
    """Yields (file, line number, message) for every include that breaks the table."""
    for layer, below in LAYERS.items():
        folder = os.path.join(root, layer)
        for directory, _, names in sorted(os.walk(folder)):
            for name in sorted(names):
                if not name.endswith(('.h', '.cpp')):
                    continue
                path = os.path.join(directory, name)
                shown = os.path.relpath(path, root)
                with open(path, encoding='utf-8') as source:
                    for number, text in enumerate(source, 1):
                        match = INCLUDE.match(text)
                        if not match:
                            continue
                        header = match.group(1)
                        if '..' in header.split('/'):
                            yield shown, number, f'"{header}" climbs out with "..": name it from the top, as "folder/file.h"'
                            continue
                        target = header.split('/')[0] if '/' in header else layer
                        if target in LAYERS and target != layer and target not in below:
                            allowed = ', '.join([layer] + below)
                            yield shown, number, (f'{layer}/ may not include "{header}": {target}/ is not below it '
                                                  f'(it may include {allowed}; scripts/layers.py)')


def check(root):
    found = 0
    for path, number, message in wrong_includes(root):
        print(f'{path}:{number}: {message}')
        found += 1
    return 1 if found else 0


def self_test():
    cases = {
        'core/a.h': '#include "writers/w.h"\n// #include "engine/e.h": a comment, not an include\n',   # up
        'filters/f.cpp': '#include "writers/w.h"\n',       # sideways
        'writers/w.h': '#include "core/a.h"\n#include "../filters/f.h"\n',   # fine, then climbing out
        'engine/e.cpp': '#include "core/a.h"\n#include "control/c.h"\n#include "engine/x.h"\n#include <rte_mbuf.h>\n',   # up, once
        'control/c.h': '#include "engine/e.h"\n',
        'tests/t.cpp': '#include "engine/e.h"\n',          # tests sit above every layer
    }
    expected = {('core/a.h', 1), ('filters/f.cpp', 1), ('writers/w.h', 2), ('engine/e.cpp', 2)}
    with tempfile.TemporaryDirectory() as root:
        for name, text in cases.items():
            os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
            with open(os.path.join(root, name), 'w', encoding='utf-8') as out:
                out.write(text)
        found = {(path, number) for path, number, _ in wrong_includes(root)}
    if found != expected:
        print(f'layers.py self-test: reported {sorted(found)}, expected {sorted(expected)}')
        return 1
    print(f'layers.py self-test: the {len(expected)} wrong includes reported, nothing else')
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == 'view':
        view(argv[2], argv[3])
        return 0
    if len(argv) in (2, 3) and argv[1] == 'check':
        root = argv[2] if len(argv) == 3 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return check(root)
    if len(argv) == 2 and argv[1] == 'self-test':
        return self_test()
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
