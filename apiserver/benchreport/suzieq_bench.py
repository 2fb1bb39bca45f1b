"""Time SuzieQ's answers to the benchreport's questions, through its Python API.

usage: suzieq_bench.py DATA_DIR NAMESPACE < questions.json

questions.json: {"find": ["ip", ...], "path": [["src", "dst"], ...]}

Prints one JSON object: load_s (first answer, with SuzieQ's imports and
first reads), find_ms and path_ms (one latency per question), and the
answers: find {ip: [[hostname, ifname], ...]}, path {"src>dst": [hostnames
on any path]}, errors {question: message}.
"""
import json
import os
import sys
import tempfile
import time
import warnings

warnings.filterwarnings('ignore')


def main():
    data_dir, namespace = sys.argv[1], sys.argv[2]
    q = json.load(sys.stdin)
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, 'suzieq-cfg.yml')
    with open(cfg, 'w') as f:
        f.write(f'data-directory: {data_dir}\ntemp-directory: {tmp}\nlogging-level: ERROR\n')

    t0 = time.perf_counter()
    from suzieq.sqobjects import get_sqobject
    network = get_sqobject('network')(config_file=cfg, namespace=[namespace])
    path = get_sqobject('path')(config_file=cfg)
    # One answer first, so that imports and the first reads are not
    # counted in the latencies (reported apart as load_s).
    network.find(address=[q['find'][0]])
    out = {'load_s': time.perf_counter() - t0, 'find_ms': [], 'path_ms': [],
           'find': {}, 'path': {}, 'errors': {}}

    for addr in q['find']:
        t = time.perf_counter()
        try:
            df = network.find(address=[addr])
            out['find'][addr] = sorted([r.hostname, r.ifname] for r in df.itertuples())
        except Exception as e:  # counted as answered, reported beside
            out['errors'][addr] = f'{type(e).__name__}: {e}'
        out['find_ms'].append((time.perf_counter() - t) * 1000)

    for src, dst in q['path']:
        key = f'{src}>{dst}'
        t = time.perf_counter()
        try:
            df = path.get(namespace=[namespace], src=src, dest=dst)
            out['path'][key] = sorted(set(df.hostname.tolist())) if not df.empty else []
        except Exception as e:
            out['errors'][key] = f'{type(e).__name__}: {e}'
        out['path_ms'].append((time.perf_counter() - t) * 1000)
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
