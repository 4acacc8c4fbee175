"""Build the medscan-vqa image cache and print its manifest.

    python -m armed.data.embedded.build [--rebuild] [--root DIR]

(``armed data inspect --dataset medscan-vqa`` builds it too, on first use.)
"""

from __future__ import annotations

import argparse
import json


def main(argv: list[str] | None = None) -> None:
    from armed.data.embedded import medscan

    parser = argparse.ArgumentParser(description="Build the medscan-vqa cache and print its manifest.")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if this version is cached")
    parser.add_argument("--root", default=None, help="build folder (default: $ARMED_HOME/data/medscan-vqa/<ver>)")
    args = parser.parse_args(argv)
    folder = medscan.build(args.root, force=args.rebuild)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for key in ("groups", "split_x_question_type"):
        manifest.pop(key, None)
    print(folder)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
