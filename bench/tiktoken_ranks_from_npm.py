"""Convert the rank tables shipped in the npm `tiktoken` package into `.tiktoken` rank files.

The npm package (`npm pack tiktoken`, then untar) carries each encoding as
`package/encoders/<name>.json`, whose `bpe_ranks` holds lines of the form
`<marker> <first rank> <base64 token> <base64 token> ...` (consecutive ranks from the first).
A `.tiktoken` file is one `<base64 token> <rank>` per line, which `thresher mixture infer`
reads directly (merges rebuilt from ranks, regex from the file name). Run once, offline:

    cd /tmp && npm pack tiktoken && tar xzf tiktoken-*.tgz
    python bench/tiktoken_ranks_from_npm.py /tmp/package/encoders bench/out/ranks \
        gpt2 cl100k_base o200k_base
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def convert(encoders: Path, name: str, out_dir: Path) -> Path:
    data = json.loads((encoders / f"{name}.json").read_text())
    lines = []
    for block in data["bpe_ranks"].split("\n"):
        if not block.strip():
            continue
        _marker, first, *tokens = block.split(" ")
        lines += [f"{tok} {int(first) + k}\n" for k, tok in enumerate(tokens)]
    out = out_dir / f"{name}.tiktoken"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-2].strip())
        return 1
    encoders, out_dir, names = Path(argv[0]), Path(argv[1]), argv[2:]
    for name in names:
        path = convert(encoders, name, out_dir)
        print(f"{name}: {sum(1 for _ in path.open())} ranks -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
