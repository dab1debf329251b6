#!/usr/bin/env python3
"""What each library and layer of a static lastcall costs, from its GNU ld linker map.

Usage: size_table.py LINKER_MAP [--markdown]
Reads the map `-Wl,-Map` writes (CMakeLists.txt asks for one in static builds), attributes every
input section the link kept to an owner, and prints bytes per owner: code (.text), read-only data
(.rodata, the unwind tables .eh_frame and .gcc_except_table), writable data (.data, .data.rel.ro,
.tdata, init arrays, the GOT) and zero-initialised data (.bss: no bytes in the file).

Owners: the lastcall layers by archive (liblastcall_<layer>.a; main.cc as `main`); third-party
archives (libre2.a, libyaml-cpp.a, libstdc++.a split into iostream/locale and the rest, libc.a
and libm as glibc, libgcc); the header-only libraries (fmt, spdlog, nlohmann/json, CLI11, and
yaml-cpp's templates) by the demangled name of the function whose section it is, wherever it was
instantiated, so their weight shows even though it sits in lastcall's objects.
"""
import collections
import re
import subprocess
import sys

MERGED = 'merged by gold (strings, constants, unwind tables)'
CODE = ('.text', '.init', '.fini', '.plt', '.iplt')
RODATA = ('.rodata', '.eh_frame', '.gcc_except_table', '.stapsdt.base', '.note', '.rela')
DATA = ('.data', '.tdata', '.init_array', '.fini_array', '.preinit_array', '.got', '.igot')
ZERO = ('.bss', '.tbss')

# libstdc++'s members that exist for streams and locales: a static link pulls them in (and every
# facet, char and wchar_t) as soon as anything uses a std::stringstream, std::locale or <iostream>.
STREAM_MEMBER = re.compile(
    r'(locale|ios|stream|streambuf|codecvt|ctype|collate|messages|monetary|numeric_members|'
    r'time_members|basic_file|globals_io|shim_facets|string-io|misc-inst|fstream|sstream)')

HEADER_ONLY = [('spdlog::', 'spdlog (header-only)'), ('fmt::', 'fmt (header-only)'),
               ('nlohmann::', 'nlohmann/json (header-only)'), ('CLI::', 'CLI11 (header-only)'),
               ('YAML::', 'yaml-cpp (templates in lastcall)'), ('re2::', 're2 (inline)')]


def kind_of(output_section):
    for kinds, name in ((ZERO, 'bss'), (DATA, 'data'), (CODE, 'code'), (RODATA, 'rodata')):
        if any(output_section == k or output_section.startswith(k + '.') for k in kinds):
            return name
    if output_section.startswith('.data.rel.ro'):
        return 'data'
    return None


def owner_of_file(path):
    member = ''
    m = re.match(r'(.*)\((.*)\)$', path)
    if m:
        path, member = m.group(1), m.group(2)
    base = path.rsplit('/', 1)[-1]
    m = re.match(r'liblastcall_(\w+)\.a$', base)
    if m:
        return 'lastcall_' + m.group(1)
    if base.endswith('main.cc.o'):
        return 'main.cc'
    if base == 'libre2.a':
        return 'RE2'
    if base == 'libyaml-cpp.a':
        return 'yaml-cpp (library)'
    if base == 'libstdc++.a':
        return ('libstdc++: iostream/locale' if STREAM_MEMBER.search(member)
                else 'libstdc++: the rest')
    if base in ('libc.a', 'libpthread.a', 'libdl.a', 'librt.a') or base.startswith('libm'):
        return 'glibc'
    if base.startswith('libgcc') or base.startswith('crt'):
        return 'libgcc, crt'
    return base


def head_of(demangled):
    """The qualified name of a function: what comes before its parameter list."""
    depth = 0
    for i, c in enumerate(demangled):
        if c == '<':
            depth += 1
        elif c == '>':
            depth -= 1
        elif c == '(' and depth == 0 and i > 0:
            return demangled[:i]
    return demangled


def header_owner(demangled):
    head = head_of(demangled)
    for prefix, owner in HEADER_ONLY:
        if head.startswith(prefix):
            return owner
    if head.startswith('std::'):  # a container or algorithm instantiated for such a library
        for prefix, owner in HEADER_ONLY:
            if prefix in head:
                return owner
    return None


def main():
    path = sys.argv[1]
    markdown = '--markdown' in sys.argv
    entries = []  # (owner, kind, size, symbol or '')
    output = None
    in_memory_map = False
    pending = None  # an input section name on a line of its own
    line_re = re.compile(r'^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$')
    addr_re = re.compile(r'^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$')
    with open(path, errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith(('Linker script and memory map', 'Memory map')):
                in_memory_map = True
                continue
            if not in_memory_map:
                continue
            if line.startswith('.') or (line and not line[0].isspace() and not line.startswith(' ')):
                output = line.split()[0]
                pending = None
                continue
            # gold merges strings, constants and the unwind tables of all inputs into one piece
            # each, which its map shows with no owner ("** merge strings").
            gm = re.match(r'^ \*\* (merge strings|merge constants|eh_frame)\s*'
                          r'(?:0x[0-9a-f]+\s+0x([0-9a-f]+))?\s*$', line)
            if gm:
                if gm.group(2):
                    entries.append([MERGED, kind_of(output) or 'rodata', int(gm.group(2), 16), ''])
                else:
                    pending = '** merged'
                continue
            m = line_re.match(line)
            if m:
                name, size, file = m.group(1), int(m.group(3), 16), m.group(4)
            else:
                m = addr_re.match(line)
                if m and pending:
                    name, size, file = pending, int(m.group(2), 16), m.group(3)
                elif pending == '** merged' and re.match(r'^\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s*$', line):
                    entries.append([MERGED, kind_of(output) or 'rodata',
                                    int(line.split()[1], 16), ''])
                    pending = None
                    continue
                else:
                    pending = line.strip() if re.match(r'^ \.\S+$', line) else None
                    continue
            pending = None
            if size == 0 or output is None or '(' not in file and not file.endswith('.o'):
                continue
            kind = kind_of(output)
            if kind is None:
                continue
            symbol = ''
            sm = re.match(r'\.(?:text|rodata|data\.rel\.ro|data|bss|gcc_except_table)'
                          r'(?:\.(?:unlikely|hot|startup|exit|local))?\.(_Z\S+)$', name)
            if sm:
                symbol = re.sub(r'\.(part|isra|constprop|cold|lto_priv)\.\d+.*$', '', sm.group(1))
            entries.append([owner_of_file(file), kind, size, symbol])
    # Demangle all at once.
    mangled = sorted({e[3] for e in entries if e[3]})
    demangled = {}
    if mangled:
        out = subprocess.run(['c++filt'], input='\n'.join(mangled), capture_output=True,
                             text=True, check=True).stdout.split('\n')
        demangled = dict(zip(mangled, out))
    table = collections.defaultdict(lambda: collections.Counter())
    for owner, kind, size, symbol in entries:
        if symbol and (owner.startswith('lastcall_') or owner == 'main.cc' or
                       owner.startswith('yaml-cpp')):
            owner = header_owner(demangled.get(symbol, symbol)) or owner
        table[owner][kind] += size
    rows = sorted(table.items(), key=lambda kv: -(kv[1]['code'] + kv[1]['rodata'] +
                                                  kv[1]['data']))
    total = collections.Counter()
    for _, c in rows:
        total.update(c)
    file_bytes = total['code'] + total['rodata'] + total['data']
    if markdown:
        print('| owner | code | read-only data | data | in the file | share | bss |')
        print('|---|---:|---:|---:|---:|---:|---:|')
        fmt_row = '| {} | {:,} | {:,} | {:,} | {:,} | {:.1f}% | {:,} |'
    else:
        print('{:<34} {:>10} {:>10} {:>8} {:>10} {:>6} {:>8}'.format(
            'owner', 'code', 'rodata', 'data', 'file', 'share', 'bss'))
        fmt_row = '{:<34} {:>10,} {:>10,} {:>8,} {:>10,} {:>5.1f}% {:>8,}'
    for owner, c in rows + [('total', total)]:
        in_file = c['code'] + c['rodata'] + c['data']
        print(fmt_row.format(owner if not markdown or owner != 'total' else '**total**',
                             c['code'], c['rodata'], c['data'], in_file,
                             100.0 * in_file / file_bytes, c['bss']))


if __name__ == '__main__':
    main()
