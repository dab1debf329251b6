#!/usr/bin/env python3
"""What each library and layer of a static lastcall costs, from its GNU ld linker map.

Usage: size_table.py LINKER_MAP... [--markdown]
With one map: code, read-only data, data, bytes in the file and bss per owner. With several (the
full binary and the sidecar build): code and bytes in the file per owner, side by side.
Reads the map `-Wl,-Map` writes (CMakeLists.txt asks for one in static builds), attributes every
input section the link kept to an owner, and prints bytes per owner: code (.text), read-only data
(.rodata, the unwind tables .eh_frame and .gcc_except_table), writable data (.data, .data.rel.ro,
.tdata, init arrays, the GOT) and zero-initialised data (.bss: no bytes in the file).

Owners: the lastcall layers by archive (liblastcall_<layer>.a; main.cc as `main`); third-party
archives (libre2.a, libyaml-cpp.a, libstdc++.a split into iostream/locale and the rest, libc.a
and libm as glibc, libgcc); the header-only libraries (fmt, nlohmann/json, CLI11, and
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

HEADER_ONLY = [('fmt::', 'fmt (header-only)'),
               ('nlohmann::', 'nlohmann/json (header-only)'), ('CLI::', 'CLI11 (header-only)'),
               ('YAML::', 'yaml-cpp (templates in lastcall)'), ('re2::', 'RE2')]


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


def read_map(path):
    """{owner: Counter(kind -> bytes)} for one linker map."""
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
            if line.startswith('.') or (line and not line[0].isspace()):
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
                if m and pending and pending != '** merged':
                    name, size, file = pending, int(m.group(2), 16), m.group(3)
                elif pending == '** merged' and re.match(r'^\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s*$',
                                                         line):
                    entries.append([MERGED, kind_of(output) or 'rodata',
                                    int(line.split()[1], 16), ''])
                    pending = None
                    continue
                else:
                    pending = line.strip() if re.match(r'^ \.\S+$', line) else None
                    continue
            pending = None
            if size == 0 or output is None or ('(' not in file and not file.endswith('.o')):
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
    mangled = sorted({e[3] for e in entries if e[3]})
    demangled = {}
    if mangled:
        out = subprocess.run(['c++filt'], input='\n'.join(mangled), capture_output=True,
                             text=True, check=True).stdout.split('\n')
        demangled = dict(zip(mangled, out))
    table = collections.defaultdict(collections.Counter)
    for owner, kind, size, symbol in entries:
        if symbol and (owner.startswith('lastcall_') or owner == 'main.cc' or
                       owner.startswith('yaml-cpp')):
            owner = header_owner(demangled.get(symbol, symbol)) or owner
        table[owner][kind] += size
    return table


def in_file(c):
    return c['code'] + c['rodata'] + c['data']


def main():
    maps = [a for a in sys.argv[1:] if not a.startswith('--')]
    markdown = '--markdown' in sys.argv
    if not maps:
        sys.exit('usage: size_table.py LINKER_MAP... [--markdown]')
    tables = [read_map(m) for m in maps]
    names = [re.sub(r'\.map$', '', m.rsplit('/', 1)[-1]) for m in maps]
    owners = sorted(set().union(*tables), key=lambda o: -max(in_file(t[o]) for t in tables))
    totals = []
    for t in tables:
        total = collections.Counter()
        for c in t.values():
            total.update(c)
        totals.append(total)
    if len(tables) == 1:
        head = ['owner', 'code', 'read-only data', 'data', 'in the file', 'share', 'bss']
        rows = []
        for owner in owners + ['total']:
            c = totals[0] if owner == 'total' else tables[0][owner]
            rows.append([owner, c['code'], c['rodata'], c['data'], in_file(c),
                         '%.1f%%' % (100.0 * in_file(c) / in_file(totals[0])), c['bss']])
    else:
        head = ['owner'] + [n + ' ' + col for n in names for col in ('code', 'in the file')]
        rows = []
        for owner in owners + ['total']:
            row = [owner]
            for t, total in zip(tables, totals):
                c = total if owner == 'total' else t.get(owner, collections.Counter())
                row += [c['code'], in_file(c)]
            rows.append(row)

    def cell(v):
        return '{:,}'.format(v) if isinstance(v, int) else v
    if markdown:
        print('| ' + ' | '.join(head) + ' |')
        print('|---|' + '---:|' * (len(head) - 1))
        for row in rows:
            if row[0] == 'total':
                row = ['**total**'] + row[1:]
            print('| ' + ' | '.join(cell(v) for v in row) + ' |')
    else:
        widths = [max(len(cell(r[i])) for r in rows + [head]) for i in range(len(head))]
        for row in [head] + rows:
            print('  '.join(cell(v).ljust(w) if i == 0 else cell(v).rjust(w)
                            for i, (v, w) in enumerate(zip(row, widths))))


if __name__ == '__main__':
    main()
