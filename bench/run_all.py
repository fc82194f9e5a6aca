"""`make bench`: every benchmark in turn, each printing its figures beside a same-run baseline."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_matcher.py", "bench_analytics.py", "bench_durability.py", "bench_flood.py", "bench_scale.py"]

if __name__ == "__main__":
    for name in BENCHES:
        print(f"=== {name} ===", flush=True)
        sys.argv = [str(HERE / name), *sys.argv[1:]]
        runpy.run_path(str(HERE / name), run_name="__main__")
        print(flush=True)
