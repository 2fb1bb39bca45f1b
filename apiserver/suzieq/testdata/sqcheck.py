"""Load an export with SuzieQ's own Python API and report what it makes of it.

usage: sqcheck.py DATA_DIR NAMESPACE < questions.json

questions.json: {"find": ["10.1.2.3", "aa:bb:..."], "path": [["src", "dst"], ...]}

Prints one JSON object:
  schema: problems found comparing every parquet file with the table's
          schema as SuzieQ defines it ("table T: column C: ..."), [] if none
  find:   {addr: [[hostname, ifname], ...]} from `network find`
  path:   {"src>dst": [[hostname of each hop], ...] per path} from `path show`
  errors: {question: "what SuzieQ raised"}
"""
import json
import os
import sys
import tempfile
import warnings

warnings.filterwarnings('ignore')

import suzieq  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from suzieq.shared.schema import Schema, SchemaForTable  # noqa: E402
from suzieq.sqobjects import get_sqobject  # noqa: E402


def value_type(t):
    """A list's element type without the element's name and nullability."""
    if pa.types.is_list(t):
        return 'list<' + str(t.value_type) + '>'
    return str(t)


def check_schema(data_dir):
    problems = []
    # The schema files installed with suzieq: the definition SuzieQ reads with.
    schemas = Schema(os.path.join(os.path.dirname(suzieq.__file__), 'config', 'schema'))
    for root, _, files in os.walk(data_dir):
        for f in files:
            if not f.endswith('.parquet'):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, data_dir).split(os.sep)
            coalesced = rel[0] == 'coalesced'
            table = rel[1] if coalesced else rel[0]
            if table not in schemas.tables():
                problems.append(f'table {table}: SuzieQ has no such table')
                continue
            sch = SchemaForTable(table, schemas)
            vers = [p for p in rel if p.startswith('sqvers=')]
            if vers != [f'sqvers={sch.version}']:
                problems.append(f'table {table}: {"/".join(rel)}: want sqvers={sch.version}')
            # Partition columns are directories, not columns of the file.
            parts = {'sqvers', 'namespace'} | (set() if coalesced else {'hostname'})
            want = {fld.name: value_type(fld.type) for fld in sch.get_arrow_schema() if fld.name not in parts}
            got = {fld.name: value_type(fld.type) for fld in pq.read_schema(path)}
            for name in sorted(set(want) - set(got)):
                problems.append(f'table {table}: column {name}: missing (want {want[name]})')
            for name in sorted(set(got) - set(want)):
                problems.append(f'table {table}: column {name}: not in SuzieQ\'s schema')
            for name in sorted(set(want) & set(got)):
                if want[name] != got[name]:
                    problems.append(f'table {table}: column {name}: {got[name]}, want {want[name]}')
    return sorted(set(problems))


def main():
    data_dir, namespace = sys.argv[1], sys.argv[2]
    questions = json.load(sys.stdin)
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, 'suzieq-cfg.yml')
    with open(cfg, 'w') as f:
        f.write(f'data-directory: {data_dir}\ntemp-directory: {tmp}\nlogging-level: ERROR\n')
    out = {'schema': check_schema(data_dir), 'find': {}, 'path': {}, 'errors': {}}
    network = get_sqobject('network')(config_file=cfg, namespace=[namespace])
    for addr in questions.get('find', []):
        try:
            df = network.find(address=[addr])
            out['find'][addr] = sorted([r.hostname, r.ifname] for r in df.itertuples())
        except Exception as e:  # reported, not swallowed: the test prints it
            out['errors'][addr] = f'{type(e).__name__}: {e}'
    path = get_sqobject('path')(config_file=cfg)
    for src, dst in questions.get('path', []):
        key = f'{src}>{dst}'
        try:
            df = path.get(namespace=[namespace], src=src, dest=dst)
            paths = []
            for _, hops in df.sort_values(['pathid', 'hopCount']).groupby('pathid'):
                paths.append(hops.hostname.tolist())
            out['path'][key] = sorted(paths)
        except Exception as e:
            out['errors'][key] = f'{type(e).__name__}: {e}'
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
